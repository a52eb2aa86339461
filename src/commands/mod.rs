//! One module per subcommand.

pub mod dag;
pub mod fid;
pub mod gc;
pub mod masks;
pub mod run;
pub mod status;
pub mod verify;
