//! The JetStream adapter: streams, subjects, publish with dedup, consumers
