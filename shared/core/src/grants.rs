//! A workload's grants, one per pool, kept as a vector sorted by pool id. A workload
//! nearly always holds a single grant, and a `BTreeMap` allocates a whole node (about
//! 500 bytes) even for one entry: at 100k workloads that was most of the state's memory.
//! Same order and the same serialized form (a map) as the `BTreeMap` it replaces.

use crate::state::GrantState;
use qm_model::PoolId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Grants by pool, sorted by pool id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GrantMap(Vec<(PoolId, GrantState)>);

impl GrantMap {
    /// No grants.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    fn find(&self, pool: &PoolId) -> Result<usize, usize> {
        self.0.binary_search_by(|(p, _)| p.cmp(pool))
    }

    pub fn get(&self, pool: &PoolId) -> Option<&GrantState> {
        self.find(pool).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, pool: &PoolId) -> Option<&mut GrantState> {
        self.find(pool).ok().map(|i| &mut self.0[i].1)
    }

    /// The grant in `pool`, inserted as a default if absent (like `entry().or_default()`).
    pub fn entry(&mut self, pool: PoolId) -> GrantEntry<'_> {
        GrantEntry { map: self, pool }
    }

    pub fn insert(&mut self, pool: PoolId, grant: GrantState) -> Option<GrantState> {
        match self.find(&pool) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, grant)),
            Err(i) => {
                self.0.insert(i, (pool, grant));
                None
            }
        }
    }

    pub fn remove(&mut self, pool: &PoolId) -> Option<GrantState> {
        self.find(pool).ok().map(|i| self.0.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Grants in pool-id order.
    pub fn iter(&self) -> impl Iterator<Item = (&PoolId, &GrantState)> {
        self.0.iter().map(|(p, g)| (p, g))
    }

    pub fn keys(&self) -> impl Iterator<Item = &PoolId> {
        self.0.iter().map(|(p, _)| p)
    }

    pub fn values(&self) -> impl Iterator<Item = &GrantState> {
        self.0.iter().map(|(_, g)| g)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut GrantState> {
        self.0.iter_mut().map(|(_, g)| g)
    }

    /// Keeps the grants for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&PoolId, &mut GrantState) -> bool) {
        self.0.retain_mut(|(p, g)| keep(p, g));
    }
}

/// A slot in a [`GrantMap`], for `entry(pool).or_default()`.
pub struct GrantEntry<'a> {
    map: &'a mut GrantMap,
    pool: PoolId,
}

impl<'a> GrantEntry<'a> {
    /// The grant, inserted as default first if absent.
    pub fn or_default(self) -> &'a mut GrantState {
        let index = match self.map.find(&self.pool) {
            Ok(i) => i,
            Err(i) => {
                self.map.0.insert(i, (self.pool, GrantState::default()));
                i
            }
        };
        &mut self.map.0[index].1
    }
}

impl<'a> IntoIterator for &'a GrantMap {
    type Item = (&'a PoolId, &'a GrantState);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (PoolId, GrantState)>, fn(&'a (PoolId, GrantState)) -> (&'a PoolId, &'a GrantState)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(p, g)| (p, g))
    }
}

impl std::ops::Index<&PoolId> for GrantMap {
    type Output = GrantState;

    /// Panics when absent, like `BTreeMap`'s index: only for pools known to be held.
    fn index(&self, pool: &PoolId) -> &GrantState {
        match self.get(pool) {
            Some(grant) => grant,
            None => panic!("no grant in pool {pool}"),
        }
    }
}

impl Serialize for GrantMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for GrantMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<PoolId, GrantState>::deserialize(deserializer)?;
        Ok(Self(map.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(decided: u32) -> GrantState {
        GrantState { decided, ..Default::default() }
    }

    #[test]
    fn behaves_like_a_sorted_map_and_serializes_like_one() {
        let mut map = GrantMap::new();
        map.insert("b".into(), grant(2));
        map.insert("a".into(), grant(1));
        map.entry("c".into()).or_default().decided = 3;
        map.entry("a".into()).or_default().decided += 10;
        assert_eq!(map.keys().map(PoolId::as_str).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(map[&"a".into()].decided, 11);
        assert_eq!(map.remove(&"b".into()).map(|g| g.decided), Some(2));
        assert_eq!(map.len(), 2);
        let reference: BTreeMap<PoolId, GrantState> = map.iter().map(|(p, g)| (p.clone(), g.clone())).collect();
        let bytes = rmp_serde::to_vec_named(&map).expect("encode");
        assert_eq!(bytes, rmp_serde::to_vec_named(&reference).expect("encode"));
        assert_eq!(rmp_serde::from_slice::<GrantMap>(&bytes).expect("decode"), map);
    }
}
