//! Drawing `qm top` with ratatui: the main screen (fleet, teams, pending, decisions)
//! or a drill-down, from the view model alone.

use super::detail::Detail;
use super::model::{FleetRow, Standing, Top};
use super::ui::{Panel, Ui};
use qm_ledger::timeline::format_time;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, List, ListItem, ListState, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

const KEYS: &str = " Tab panel · ↑↓ select · Enter drill in · Esc back · q quit";
const KEYS_DETAIL: &str = " ↑↓ select · Enter drill in · Esc back · q quit";

/// Draws one frame.
pub fn draw(frame: &mut Frame, top: &Top, ui: &Ui, detail: Option<&Detail>) {
    let [header, body, footer] = Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(frame.area());
    let title = format!(
        " qm top · log position {} · policy clock {} UTC · policy {} ",
        top.log_position,
        format_time(top.now_ms),
        top.policy_version
    );
    let (title, style) = match &top.halt {
        Some(h) => (format!("{title}· HALTED at {} entry {}: {} (see qm status) ", h.stream, h.sequence, h.error), Style::new().fg(Color::Red)),
        None => (title, Style::new()),
    };
    frame.render_widget(Paragraph::new(title).style(style.add_modifier(Modifier::REVERSED)), header);
    let keys = if detail.is_some() { KEYS_DETAIL } else { KEYS };
    frame.render_widget(Paragraph::new(keys).style(Style::new().fg(Color::DarkGray)), footer);
    match (detail, ui.focus()) {
        (Some(d), Some((_, row))) => draw_detail(frame, body, d, row),
        _ => draw_main(frame, body, top, ui),
    }
}

fn draw_main(frame: &mut Frame, area: Rect, top: &Top, ui: &Ui) {
    let upper = (top.fleet.len().max(top.teams.len()) as u16 + 3).min(area.height / 2 + 4);
    let [up, down] = Layout::vertical([Constraint::Length(upper), Constraint::Min(0)]).areas(area);
    let [fleet, teams] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(up);
    let [pending, decisions] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(down);
    draw_fleet(frame, fleet, top, ui);
    draw_teams(frame, teams, top, ui);
    draw_pending(frame, pending, top, ui);
    draw_decisions(frame, decisions, top);
}

fn block(title: &str, focused: bool) -> Block<'static> {
    let style = if focused { Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD) } else { Style::new() };
    Block::bordered().title(format!(" {title} ")).border_style(style)
}

fn selectable(table: Table<'_>, focused: bool) -> Table<'_> {
    if focused {
        table.row_highlight_style(Style::new().add_modifier(Modifier::REVERSED)).highlight_symbol("▶")
    } else {
        table.highlight_symbol(" ")
    }
}

fn header(cells: &[&'static str]) -> Row<'static> {
    Row::new(cells.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD))
}

fn draw_fleet(frame: &mut Frame, area: Rect, top: &Top, ui: &Ui) {
    let cells = |name: String, region: String, chips: &super::model::Chips| {
        let numbers = [chips.healthy.to_string(), chips.granted.to_string(), chips.applied.to_string(), format!("{:.1}", chips.busy), format!("{:.1}", chips.idle()), chips.free().to_string()];
        Row::new([name, region].into_iter().chain(numbers).map(Cell::from).collect::<Vec<_>>())
    };
    let rows = top.fleet.iter().map(|r| match r {
        FleetRow::Type { accelerator, pools, chips } => cells(format!("{accelerator} ({pools})"), "all".into(), chips).style(Style::new().add_modifier(Modifier::BOLD)),
        FleetRow::Pool { id, region, retired, chips, .. } => cells(format!(" {id}{}", if *retired { " (retired)" } else { "" }), region.to_string(), chips),
    });
    let widths = [Constraint::Min(12), Constraint::Length(8), Constraint::Length(5), Constraint::Length(5), Constraint::Length(5), Constraint::Length(5), Constraint::Length(5), Constraint::Length(5)];
    let headers = ["TYPE / POOL", "REGION", "HLTHY", "GRANT", "APPL", "BUSY", "IDLE", "FREE"];
    draw_panel(frame, area, ui, Panel::Fleet, "fleet: chips by type and region", Table::new(rows, widths).header(header(&headers)));
}

fn draw_teams(frame: &mut Frame, area: Rect, top: &Top, ui: &Ui) {
    let rows = top.teams.iter().map(|t| {
        let (mark, style) = match t.standing {
            Standing::BelowGuarantee => ("below guarantee", Style::new().fg(Color::Yellow)),
            Standing::Borrowing => ("borrowing", Style::new().fg(Color::Magenta)),
            Standing::Within => ("", Style::new()),
        };
        Row::new(vec![
            Cell::from(t.id.to_string()),
            Cell::from(format!("{:.1}", t.held)),
            Cell::from(format!("{:.1}", t.guarantee)),
            Cell::from(format!("{:.1}", t.fair_share)),
            Cell::from(format!("{:.1}", t.demand)),
            Cell::from(format!("{}/{}", t.chips.granted, t.chips.applied)),
            Cell::from(format!("{:.1}", t.chips.busy)),
            Cell::from(Span::styled(mark, style)),
        ])
    });
    let widths = [Constraint::Min(8), Constraint::Length(6), Constraint::Length(6), Constraint::Length(6), Constraint::Length(6), Constraint::Length(7), Constraint::Length(5), Constraint::Length(15)];
    let headers = ["TEAM", "HELD", "GUAR.", "FAIR", "WANTS", "GR/APPL", "BUSY", ""];
    let title = "teams: share (H100-eq) vs guarantee and fair share";
    draw_panel(frame, area, ui, Panel::Teams, title, Table::new(rows, widths).header(header(&headers)));
}

fn draw_pending(frame: &mut Frame, area: Rect, top: &Top, ui: &Ui) {
    let rows = top.pending.iter().map(|p| {
        let rule = p.rule.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "-".into());
        Row::new(vec![p.workload.to_string(), p.team.to_string(), p.chips.to_string(), rule, p.message.clone()])
    });
    let widths = [Constraint::Length(18), Constraint::Length(12), Constraint::Length(5), Constraint::Length(14), Constraint::Min(10)];
    let title = format!("pending: {} workloads, {} chips", top.pending.len(), top.pending.iter().map(|p| p.chips).sum::<u32>());
    let table = Table::new(rows, widths).header(header(&["WORKLOAD", "TEAM", "CHIPS", "RULE", "WHY"]));
    draw_panel(frame, area, ui, Panel::Pending, &title, table);
}

/// Draws one of the selectable panels: framed with `title`, highlighted when it has the
/// focus, with the cursor on the panel's current row.
fn draw_panel(frame: &mut Frame, area: Rect, ui: &Ui, panel: Panel, title: &str, table: Table<'_>) {
    let focused = ui.panel() == panel;
    let table = selectable(table.block(block(title, focused)), focused);
    let mut state = TableState::default().with_selected(Some(ui.row(panel)));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_decisions(frame: &mut Frame, area: Rect, top: &Top) {
    let items = top.decisions.iter().map(|e| {
        let rule = e.rule.as_ref().map(|r| r.to_string()).unwrap_or_default();
        ListItem::new(Line::from(vec![
            Span::styled(format_time(e.time_ms), Style::new().fg(Color::DarkGray)),
            Span::raw(format!(" {} ", e.workload)),
            Span::styled(format!("[{rule}] "), Style::new().fg(Color::Cyan)),
            Span::raw(e.summary.clone()),
        ]))
    });
    frame.render_widget(List::new(items).block(block("recent decisions (newest first)", false)), area);
}

fn draw_detail(frame: &mut Frame, area: Rect, d: &Detail, row: usize) {
    // Lines wrap: count the rows they take at this width.
    let width = usize::from(area.width.saturating_sub(2).max(1));
    let rows: usize = d.lines.iter().map(|l| l.chars().count().div_ceil(width).max(1)).sum();
    let text_height = (rows as u16 + 2).min(area.height / 2);
    let items_height = (d.items.len() as u16 + 2).min(area.height / 3).max(3);
    let [about, items, trailer] =
        Layout::vertical([Constraint::Length(text_height.max(3)), Constraint::Length(items_height), Constraint::Min(0)]).areas(area);
    let lines: Vec<Line> = d.lines.iter().map(|l| Line::raw(l.clone())).collect();
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block(&d.title, false)), about);
    let list = List::new(d.items.iter().map(|(label, _)| ListItem::new(label.clone())))
        .block(block("Enter to drill in", true))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶");
    let mut state = ListState::default().with_selected((!d.items.is_empty()).then_some(row));
    frame.render_stateful_widget(list, items, &mut state);
    // Newest last: show the end of the chain when it does not fit.
    let shown = trailer.height.saturating_sub(2) as usize;
    let start = d.trailer.len().saturating_sub(shown);
    let tail: Vec<Line> = d.trailer[start..].iter().map(|l| Line::raw(l.clone())).collect();
    frame.render_widget(Paragraph::new(tail).block(block(&d.trailer_title, false)), trailer);
}

/// A buffer's characters, one line per row with trailing spaces trimmed: what a person
/// reads on the screen (for tests and `qm top --once`).
pub fn buffer_text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let line: String = (area.left()..area.right()).map(|x| buffer[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
