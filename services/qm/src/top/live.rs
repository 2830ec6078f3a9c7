//! The live side of `qm top`: folds what is new in the logs every refresh, and runs the
//! terminal (crossterm via ratatui) until `q`.

use super::detail::{detail, Detail};
use super::model::{Recent, Top, RECENT_MAX};
use super::render::{buffer_text, draw};
use super::ui::{Key, Ui};
use anyhow::Context;
use qm_bus::read::read_all;
use qm_bus::{subjects, Bus};
use qm_core::{Engine, FoldFault, Guard};
use qm_model::{decode, ActuationEvent, DecisionRecorded};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::{backend::TestBackend, Terminal};
use std::time::Duration;

/// The state `qm top` shows, and where it has read each stream up to.
pub struct Feed {
    engine: Engine,
    /// Folds as the policy folds: a poison entry halts the view where it halts the policy.
    guard: Guard,
    fault: Option<FoldFault>,
    recent: Recent,
    next_input: u64,
    next_decision: u64,
    next_actuation: u64,
}

impl Feed {
    /// Folds the whole input log and loads the last [`RECENT_MAX`] decisions and reports.
    pub async fn start(bus: &Bus, fault: Option<FoldFault>) -> anyhow::Result<Self> {
        let tail_of = |last: u64| last.saturating_sub(RECENT_MAX as u64) + 1;
        let (engine, guard, next_input) = crate::status::rebuild_guarded(bus, fault.clone()).await?;
        let mut feed = Feed {
            engine,
            guard,
            fault,
            recent: Recent::default(),
            next_input,
            next_decision: tail_of(qm_bus::streams::last_sequence(bus, subjects::DECISIONS_STREAM).await?),
            next_actuation: tail_of(qm_bus::streams::last_sequence(bus, subjects::ACTUATION_STREAM).await?),
        };
        feed.poll(bus).await?;
        Ok(feed)
    }

    /// Reads and folds what the three streams gained since the last poll.
    pub async fn poll(&mut self, bus: &Bus) -> anyhow::Result<()> {
        match crate::status::fold_new(bus, &mut self.engine, &mut self.guard, self.next_input).await? {
            Some(next) => self.next_input = next,
            None => (self.engine, self.guard, self.next_input) = crate::status::rebuild_guarded(bus, self.fault.clone()).await?,
        }
        for entry in read_all(bus, subjects::DECISIONS_STREAM, self.next_decision).await? {
            self.next_decision = entry.sequence + 1;
            // Undecodable entries are `qm audit`'s business; the view skips them.
            if let Ok(d) = decode::<DecisionRecorded>(&entry.payload) {
                self.recent.push_decision(d);
            }
        }
        for entry in read_all(bus, subjects::ACTUATION_STREAM, self.next_actuation).await? {
            self.next_actuation = entry.sequence + 1;
            if let Ok(a) = decode::<ActuationEvent>(&entry.payload) {
                self.recent.push_actuation(a);
            }
        }
        Ok(())
    }

    /// The main screen and, if one is open, the drill-down `ui` points at.
    pub fn screen(&self, ui: &Ui) -> (Top, Option<Detail>) {
        let mut top = Top::build(&self.engine, &self.recent);
        top.halt = self.guard.halt().cloned();
        let open = ui.focus().map(|(focus, _)| detail(&self.engine, &self.recent, focus));
        (top, open)
    }
}

/// One frame rendered off-screen, as text: `qm top --once`.
pub fn render_text(feed: &Feed, ui: &Ui, width: u16, height: u16) -> anyhow::Result<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height))?;
    let (top, open) = feed.screen(ui);
    terminal.draw(|frame| draw(frame, &top, ui, open.as_ref()))?;
    Ok(buffer_text(terminal.backend().buffer()))
}

/// Runs the interactive view until `q` or Ctrl-C, refreshing every `refresh`.
pub async fn run_terminal(bus: &Bus, mut feed: Feed, refresh: Duration) -> anyhow::Result<()> {
    let (keys_tx, mut keys) = tokio::sync::mpsc::channel::<Key>(64);
    // Terminal input is blocking: read it on its own thread and hand keys over.
    let reader = std::thread::spawn(move || read_keys(&keys_tx));
    let mut terminal = ratatui::try_init().context("cannot open the terminal (qm top needs one; try --once)")?;
    let mut ui = Ui::default();
    let mut tick = tokio::time::interval(refresh);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let outcome = loop {
        let (top, open) = feed.screen(&ui);
        ui.clamp(&top);
        if let Err(e) = terminal.draw(|frame| draw(frame, &top, &ui, open.as_ref())) {
            break Err(e.into());
        }
        tokio::select! {
            key = keys.recv() => match key {
                Some(key) => {
                    ui.on_key(key, &top, open.as_ref());
                    if ui.quit {
                        break Ok(());
                    }
                }
                None => break Ok(()),
            },
            _ = tick.tick() => {
                if let Err(e) = feed.poll(bus).await {
                    break Err(e);
                }
            }
        }
    };
    ratatui::restore();
    drop(keys);
    // The reader notices the closed channel at its next poll timeout.
    let _ = reader.join();
    outcome
}

/// How long the key reader waits for input before checking whether the view is gone.
const KEY_POLL: Duration = Duration::from_millis(200);

fn read_keys(keys: &tokio::sync::mpsc::Sender<Key>) {
    while !keys.is_closed() {
        match event::poll(KEY_POLL) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        let Ok(Event::Key(k)) = event::read() else { continue };
        if k.kind == KeyEventKind::Release {
            continue;
        }
        let key = match k.code {
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
            KeyCode::Char('q') => Key::Quit,
            KeyCode::Up | KeyCode::Char('k') => Key::Up,
            KeyCode::Down | KeyCode::Char('j') => Key::Down,
            KeyCode::Tab => Key::Tab,
            KeyCode::BackTab => Key::BackTab,
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => Key::Enter,
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => Key::Back,
            _ => continue,
        };
        if keys.blocking_send(key).is_err() {
            return;
        }
    }
}
