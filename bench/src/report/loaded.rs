//! Every results file under one directory, as its scenario's types.

use std::path::Path;
use std::rc::Rc;

use anyhow::Result;
use serde::de::DeserializeOwned;

use crate::machine::Machine;
use crate::results::Doc;
use crate::scen::{self, Scenario};

/// Every results file there is.
pub struct Results {
    pub idle: Option<Rc<Doc<scen::idle::Params, scen::idle::Idle>>>,
    pub join: Option<Rc<Doc<scen::join::Params, scen::join::Join>>>,
    pub relay: Option<Rc<Doc<scen::relay::Params, scen::relay::Relay>>>,
    pub relay_default: Option<Rc<Doc<scen::relay::Params, scen::relay::Relay>>>,
    pub instructions: Option<Rc<Doc<scen::instructions::Params, scen::instructions::Instructions>>>,
    pub capacity: Option<Rc<Doc<scen::capacity::Params, scen::capacity::Capacity>>>,
    pub soak: Option<Rc<Doc<scen::soak::Params, scen::soak::Soak>>>,
    pub cluster2: Option<Rc<Doc<scen::cluster::Params, scen::cluster::Cluster>>>,
    pub cluster3: Option<Rc<Doc<scen::cluster::Params, scen::cluster::Cluster>>>,
}

/// A scenario's results file, if there is one, with its options read as `P`
/// (those of a scenario that runs another's options read as the other's).
type Loaded<S, P> = Option<Rc<Doc<P, <S as Scenario>::Outcome>>>;

fn load<S: Scenario, P: DeserializeOwned>(dir: &Path) -> Result<Loaded<S, P>> {
    Ok(Doc::load(dir, S::NAME)?.map(Rc::new))
}

impl Results {
    pub fn load(dir: &Path) -> Result<Results> {
        Ok(Results {
            idle: load::<scen::idle::Params, _>(dir)?,
            join: load::<scen::join::Params, _>(dir)?,
            relay: load::<scen::relay::Params, _>(dir)?,
            relay_default: load::<scen::relay::DefaultRuntime, _>(dir)?,
            instructions: load::<scen::instructions::Params, _>(dir)?,
            capacity: load::<scen::capacity::Params, _>(dir)?,
            soak: load::<scen::soak::Params, _>(dir)?,
            cluster2: load::<scen::cluster::Nodes<2>, _>(dir)?,
            cluster3: load::<scen::cluster::Nodes<3>, _>(dir)?,
        })
    }

    /// (scenario, machine) of each file, in the report's order.
    pub fn machines(&self) -> Vec<(&str, &Machine)> {
        fn of<P, R>(d: &Option<Rc<Doc<P, R>>>) -> Option<(&str, &Machine)> {
            d.as_deref().map(|d| (d.scenario.as_str(), &d.machine))
        }
        [
            of(&self.idle),
            of(&self.join),
            of(&self.relay),
            of(&self.relay_default),
            of(&self.instructions),
            of(&self.capacity),
            of(&self.soak),
            of(&self.cluster2),
            of(&self.cluster3),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
