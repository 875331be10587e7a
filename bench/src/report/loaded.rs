//! Every results file under one directory, as its scenario's types.

use std::path::Path;
use std::rc::Rc;

use anyhow::Result;

use crate::machine::Machine;
use crate::results::Doc;
use crate::scen::{self, Scenario};

/// Every results file there is.
pub struct Results {
    pub idle: Option<Rc<Doc<scen::idle::Params, scen::idle::Idle>>>,
    pub join: Option<Rc<Doc<scen::join::Params, scen::join::Join>>>,
    pub relay: Option<Rc<Doc<scen::relay::Params, scen::relay::Relay>>>,
    pub relay_default: Option<Rc<Doc<scen::relay::Params, scen::relay::Relay>>>,
    pub capacity: Option<Rc<Doc<scen::capacity::Params, scen::capacity::Capacity>>>,
    pub soak: Option<Rc<Doc<scen::soak::Params, scen::soak::Soak>>>,
    pub cluster2: Option<Rc<Doc<scen::cluster::Params, scen::cluster::Cluster>>>,
    pub cluster3: Option<Rc<Doc<scen::cluster::Params, scen::cluster::Cluster>>>,
}

/// A scenario's results file, if there is one.
type Loaded<S> = Option<Rc<Doc<<S as Scenario>::Params, <S as Scenario>::Outcome>>>;

fn load<S: Scenario>(dir: &Path) -> Result<Loaded<S>> {
    Ok(Doc::load(dir, S::NAME)?.map(Rc::new))
}

impl Results {
    pub fn load(dir: &Path) -> Result<Results> {
        Ok(Results {
            idle: load::<scen::idle::Scen>(dir)?,
            join: load::<scen::join::Scen>(dir)?,
            relay: load::<scen::relay::Scen>(dir)?,
            relay_default: load::<scen::relay::DefaultScen>(dir)?,
            capacity: load::<scen::capacity::Scen>(dir)?,
            soak: load::<scen::soak::Scen>(dir)?,
            cluster2: load::<scen::cluster::Scen<2>>(dir)?,
            cluster3: load::<scen::cluster::Scen<3>>(dir)?,
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
