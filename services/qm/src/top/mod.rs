//! `qm top`: a live terminal view of the fleet. The screen is a pure view model
//! ([`model`], [`detail`]) built from the same folded state `qm status` and `qm explain`
//! use, a pure key handler ([`ui`]), a ratatui renderer ([`render`]), and the live
//! loop over the bus and the terminal ([`live`]).

pub mod detail;
pub mod live;
pub mod model;
pub mod render;
pub mod ui;

#[cfg(test)]
mod tests;

use qm_bus::Bus;
use std::time::Duration;

/// Flags of `qm top`.
#[derive(clap::Args)]
pub struct TopArgs {
    /// How often to read what is new in the logs.
    #[arg(long, default_value_t = 1000)]
    refresh_ms: u64,
    /// Print one screen as text and exit (no terminal needed).
    #[arg(long)]
    once: bool,
    /// Screen size for --once.
    #[arg(long, default_value_t = 120)]
    width: u16,
    #[arg(long, default_value_t = 40)]
    height: u16,
}

/// Runs `qm top`.
pub async fn run(bus: &Bus, args: &TopArgs, fault: Option<qm_core::FoldFault>) -> anyhow::Result<()> {
    let feed = live::Feed::start(bus, fault).await?;
    if args.once {
        print!("{}", live::render_text(&feed, &ui::Ui::default(), args.width, args.height)?);
        return Ok(());
    }
    live::run_terminal(bus, feed, Duration::from_millis(args.refresh_ms.max(100))).await
}
