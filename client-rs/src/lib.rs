//! Native client for the signaling gateway (work in progress).
