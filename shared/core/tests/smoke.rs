//! The API the services code against, end to end on a tiny fleet.

use qm_core::fixtures::{pool, spec, team, Given};
use qm_model::{Action, InputEvent, LogEvent, PolicyConfig};

#[test]
fn given_pool_and_team_when_demand_then_grant_and_status() {
    let mut g = Given::new(PolicyConfig::default());
    g.input(InputEvent::PoolDeclared(pool("us/h100", "us", "h100", 8)));
    g.input(InputEvent::TeamDeclared(team("t", 4.0)));
    let w = spec("w1", "t", &[("h100", 1.0)]);
    let d = g.demand(&w, 4);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].action, Action::Grant { pool: "us/h100".into(), chips: 4 });
    // Same demand again: nothing.
    assert!(g.demand(&w, 4).is_empty());
    // Redelivery of an old seq: nothing.
    assert!(g.engine.step(1, 0, &LogEvent::Input(InputEvent::Tick)).is_empty());
    let s = g.engine.status();
    assert_eq!(s.pools[0].granted_chips, 4);
    assert_eq!(s.workloads[0].granted.values().sum::<u32>(), 4);
    let json = serde_json::to_string(&g.engine).expect("engine serializes");
    let back: qm_core::Engine = serde_json::from_str(&json).expect("engine deserializes");
    assert_eq!(back, g.engine);
}
