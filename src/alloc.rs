//! The global allocator the `settle` binary and its benches use: mimalloc, asked for an
//! alignment only when a type needs more than a machine word's.
//!
//! A simulated seed allocates about 7,400 times (HTTP bodies, JSON, rows, tasks). The `mimalloc`
//! crate's allocator passes every request to `mi_malloc_aligned`, whose checks cost about a fifth
//! of each allocation (callgrind, `midtrans_hour`). Every mimalloc block is aligned to at least a
//! machine word, as C's `malloc` requires of it, so a layout that asks for no more is served by
//! `mi_malloc` itself; any other goes to the crate's allocator as before. Which allocator serves a
//! request changes speed only, never a trace.
//!
//! What it does not do: replace mimalloc, or apply to a library user's own binary unless that
//! binary names it as its `#[global_allocator]` (as `src/main.rs` does).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{mi_free, mi_malloc, mi_realloc, mi_zalloc};
use mimalloc::MiMalloc;

/// The alignment every mimalloc block has.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc, with word-aligned requests sent to its plain entry points (see the module doc).
pub struct Mimalloc;

// SAFETY: each method hands the request to mimalloc, which meets `GlobalAlloc`'s contract: the
// plain entry points for layouts whose alignment a mimalloc block always has, the `mimalloc`
// crate's aligned ones for the rest; `mi_free` takes a block from either.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: any size; null on failure, as `alloc` may answer.
            unsafe { mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: the caller's layout, passed on.
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: as in `alloc`.
            unsafe { mi_zalloc(layout.size()).cast() }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: `ptr` came from mimalloc; the new block keeps at least a word's alignment.
            unsafe { mi_realloc(ptr.cast::<c_void>(), new_size).cast() }
        } else {
            // SAFETY: the caller's pointer and layout, passed on.
            unsafe { MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout up to a few KiB, of every alignment up to a page, comes back aligned,
    /// zeroed when asked, and keeps its bytes through a realloc.
    #[test]
    fn blocks_are_aligned_zeroed_and_kept() {
        let a = Mimalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in (1..=64).chain([100, 1000, 1024, 1025, 4096, 5000, 70_000]) {
                let size = size.max(align);
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; each block is freed once, by this allocator.
                unsafe {
                    let p = a.alloc_zeroed(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                    p.write_bytes(0xab, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "realloc of size {size} align {align}");
                    assert!(std::slice::from_raw_parts(q, size).iter().all(|&b| b == 0xab));
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let r = a.alloc(layout);
                    assert_eq!(r as usize % align, 0);
                    a.dealloc(r, layout);
                }
            }
        }
    }
}
