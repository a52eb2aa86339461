pub mod horse2zebra;
