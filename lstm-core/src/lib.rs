#![no_std]
//! lstm-core (work in progress)
