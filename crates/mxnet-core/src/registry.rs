//! The operator registry: name (or alias) to definition.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::attrs::Attrs;
use crate::error::{Error, Result};
use crate::operator::{OpDef, Operator};

pub struct Registry {
    defs: Vec<OpDef>,
    by_name: HashMap<&'static str, usize>,
}

impl Registry {
    fn build() -> Registry {
        let mut defs = Vec::new();
        crate::ops::register_all(&mut defs);
        let mut by_name = HashMap::new();
        for (i, def) in defs.iter().enumerate() {
            for name in std::iter::once(&def.name).chain(def.aliases.iter()) {
                if by_name.insert(*name, i).is_some() {
                    panic!("operator name {name} is registered twice");
                }
            }
        }
        Registry { defs, by_name }
    }

    pub fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(Registry::build)
    }

    pub fn find(&self, name: &str) -> Result<&OpDef> {
        self.by_name
            .get(name)
            .map(|&i| &self.defs[i])
            .ok_or_else(|| Error::MXNet(format!("operator '{name}' is not registered")))
    }

    /// Create an operator instance from its name and attributes.
    pub fn create(&self, name: &str, attrs: &Attrs) -> Result<Arc<dyn Operator>> {
        (self.find(name)?.create)(attrs)
    }

    pub fn defs(&self) -> &[OpDef] {
        &self.defs
    }
}
