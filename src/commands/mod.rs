//! One module per subcommand.

pub mod dag;
pub mod features;
pub mod fid;
pub mod gc;
pub mod import_checkpoint;
pub mod masks;
pub mod run;
pub mod status;
pub mod translate;
pub mod verify;
