//! Deblur Studio: remove motion blur from photos with deblurring networks in burn.
//!
//! The engine (imaging, nets, engine) never depends on the user interfaces (cli, app).

pub mod analysis;
pub mod app;
pub mod cli;
pub mod deconv;
pub mod engine;
pub mod gpu;
pub mod imaging;
pub mod nets;
pub mod train;
pub mod util;
