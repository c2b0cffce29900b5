//! Unit tests of `chat/src/limits.rs` (a child module of it, kept out of `src/`).

use super::*;

#[test]
fn counts_read_in_correct_english() {
    assert_eq!(clients(1), "1 client");
    assert_eq!(clients(2), "2 clients");
}

#[test]
fn a_connection_thread_costs_what_one_was_measured_to_map() {
    // Measured here: 1,000 connection threads added 80.75 KiB of address space each.
    let cost = common::rlimit::thread_cost(THREAD_STACK);
    assert!(cost >= 80 << 10, "{cost}");
}

#[test]
fn a_clients_worst_case_heap_covers_a_partial_line_and_a_read() {
    for engine in [Engine::Events, Engine::Threads] {
        let config = Config {
            engine,
            loops: 2,
            ..Config::default()
        };
        let costs = Costs::of(&config);
        assert!(costs.heap_per_client > 2 * config.max_line, "{engine:?}");
    }
}
