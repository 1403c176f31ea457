//! Physical memory: frames and page tables.
pub mod frames;
pub mod paging;
