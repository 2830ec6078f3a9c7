//! What the person at `qm top` is looking at (which panel, which row, which drill-down)
//! and how keys move it: pure, so key handling is tested without a terminal.

use super::detail::{Detail, Focus};
use super::model::{FleetRow, Top};

/// The main screen's selectable panels, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Fleet,
    Teams,
    Pending,
}

const PANELS: [Panel; 3] = [Panel::Fleet, Panel::Teams, Panel::Pending];

/// Keys `qm top` reacts to, whatever terminal they came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    Tab,
    BackTab,
    Enter,
    Back,
    Quit,
}

/// The view's position: panel and row on the main screen, and the drill-downs opened
/// from it (each with its selected row).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ui {
    panel: usize,
    rows: [usize; 3],
    stack: Vec<(Focus, usize)>,
    pub quit: bool,
}

impl Ui {
    /// The focused panel of the main screen.
    pub fn panel(&self) -> Panel {
        PANELS[self.panel]
    }

    /// The selected row of `panel`.
    pub fn row(&self, panel: Panel) -> usize {
        self.rows[panel as usize]
    }

    /// The open drill-down, if any, and its selected row.
    pub fn focus(&self) -> Option<(&Focus, usize)> {
        self.stack.last().map(|(f, i)| (f, *i))
    }

    /// Applies a key. `detail` is the open drill-down as built for this screen.
    pub fn on_key(&mut self, key: Key, top: &Top, detail: Option<&Detail>) {
        if key == Key::Quit {
            self.quit = true;
            return;
        }
        if let Some((_, row)) = self.stack.last_mut() {
            let items = detail.map_or(0, |d| d.items.len());
            match key {
                Key::Up => *row = row.saturating_sub(1),
                Key::Down => *row = (*row + 1).min(items.saturating_sub(1)),
                Key::Enter => {
                    if let Some((_, next)) = detail.and_then(|d| d.items.get(*row)) {
                        self.stack.push((next.clone(), 0));
                    }
                }
                Key::Back => {
                    self.stack.pop();
                }
                Key::Tab | Key::BackTab | Key::Quit => {}
            }
            return;
        }
        let panel = self.panel();
        let len = panel_len(top, panel);
        let row = &mut self.rows[self.panel];
        match key {
            Key::Up => *row = row.saturating_sub(1),
            Key::Down => *row = (*row + 1).min(len.saturating_sub(1)),
            Key::Tab => self.panel = (self.panel + 1) % PANELS.len(),
            Key::BackTab => self.panel = (self.panel + PANELS.len() - 1) % PANELS.len(),
            Key::Enter => {
                if let Some(focus) = selected(top, panel, *row) {
                    self.stack.push((focus, 0));
                }
            }
            Key::Back | Key::Quit => {}
        }
    }

    /// Keeps selections inside their lists after the screen changed under them.
    pub fn clamp(&mut self, top: &Top) {
        for panel in PANELS {
            let len = panel_len(top, panel);
            let row = &mut self.rows[panel as usize];
            *row = (*row).min(len.saturating_sub(1));
        }
    }
}

fn panel_len(top: &Top, panel: Panel) -> usize {
    match panel {
        Panel::Fleet => top.fleet.len(),
        Panel::Teams => top.teams.len(),
        Panel::Pending => top.pending.len(),
    }
}

/// What Enter on `row` of `panel` opens.
fn selected(top: &Top, panel: Panel, row: usize) -> Option<Focus> {
    match panel {
        Panel::Fleet => top.fleet.get(row).map(|r| match r {
            FleetRow::Type { accelerator, .. } => Focus::Type(accelerator.clone()),
            FleetRow::Pool { id, .. } => Focus::Pool(id.clone()),
        }),
        Panel::Teams => top.teams.get(row).map(|t| Focus::Team(t.id.clone())),
        Panel::Pending => top.pending.get(row).map(|p| Focus::Workload(p.workload.clone())),
    }
}
