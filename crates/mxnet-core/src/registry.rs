//! The operator registry: name (or alias) to definition.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::attrs::Attrs;
use crate::error::{Error, Result};
use crate::operator::{OpDef, Operator};

pub struct Registry {
    defs: Vec<OpDef>,
    by_name: HashMap<&'static str, usize>,
    /// The instance of each operator created without attributes, shared by every such call
    /// (`a + b` creates one per call otherwise). Operators hold no mutable state.
    no_attrs: Vec<OnceLock<Arc<dyn Operator>>>,
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
        let no_attrs = defs.iter().map(|_| OnceLock::new()).collect();
        Registry { defs, by_name, no_attrs }
    }

    pub fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(Registry::build)
    }

    pub fn find(&self, name: &str) -> Result<&OpDef> {
        self.index(name).map(|i| &self.defs[i])
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.by_name.get(name).copied().ok_or_else(|| Error::MXNet(format!("operator '{name}' is not registered")))
    }

    /// Create an operator instance from its name and attributes.
    pub fn create(&self, name: &str, attrs: &Attrs) -> Result<Arc<dyn Operator>> {
        let i = self.index(name)?;
        if !attrs.is_empty() {
            return (self.defs[i].create)(attrs);
        }
        if let Some(op) = self.no_attrs[i].get() {
            return Ok(op.clone());
        }
        // Errors (an operator that needs attributes) are not cached and are raised each time.
        let op = (self.defs[i].create)(attrs)?;
        Ok(self.no_attrs[i].get_or_init(|| op).clone())
    }

    pub fn defs(&self) -> &[OpDef] {
        &self.defs
    }
}
