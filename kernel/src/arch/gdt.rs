//! Global descriptor tables and task-state segments, one per core.
//!
//! Long mode ignores segmentation except for the code segment's mode bits
//! and the TSS, whose interrupt stack table gives double faults, NMIs and
//! machine checks known-good stacks even when the faulting stack is gone.

use crate::sync::BootCell;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// Most cores the image drives (housekeeping included).
pub const MAX_CORES: usize = 16;

/// Interrupt-stack-table slots (0-based as the `x86_64` crate counts them).
pub const IST_DOUBLE_FAULT: u16 = 0;
pub const IST_NMI: u16 = 1;
pub const IST_MACHINE_CHECK: u16 = 2;
const IST_STACKS: usize = 3;
const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct IstStacks([[[u8; IST_STACK_SIZE]; IST_STACKS]; MAX_CORES]);

/// Only ever addressed, never referenced: the CPUs write to it.
static mut IST: IstStacks = IstStacks([[[0; IST_STACK_SIZE]; IST_STACKS]; MAX_CORES]);

struct Gdt {
    table: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: [BootCell<TaskStateSegment>; MAX_CORES] = [const { BootCell::new() }; MAX_CORES];
static GDT: [BootCell<Gdt>; MAX_CORES] = [const { BootCell::new() }; MAX_CORES];

/// Loads core `index`'s GDT and TSS (building them on first use). Returns
/// false for an index beyond `MAX_CORES` or a second call for the same core.
pub fn init_core(index: usize) -> bool {
    let (Some(tss_cell), Some(gdt_cell)) = (TSS.get(index), GDT.get(index)) else {
        return false;
    };
    let ist_base = (&raw const IST) as u64 + (index * IST_STACKS * IST_STACK_SIZE) as u64;
    let mut tss = TaskStateSegment::new();
    for slot in 0..IST_STACKS {
        let top = ist_base + ((slot + 1) * IST_STACK_SIZE) as u64;
        tss.interrupt_stack_table[slot] = VirtAddr::new(top);
    }
    let Some(tss) = tss_cell.init(tss) else {
        return false;
    };
    let mut table = GlobalDescriptorTable::new();
    let code = table.append(Descriptor::kernel_code_segment());
    let data = table.append(Descriptor::kernel_data_segment());
    let tss_selector = table.append(Descriptor::tss_segment(tss));
    let Some(gdt) = gdt_cell.init(Gdt {
        table,
        code,
        data,
        tss: tss_selector,
    }) else {
        return false;
    };
    gdt.table.load();
    // SAFETY: the selectors index descriptors of the table just loaded, which
    // lives for the rest of the run.
    #[allow(unsafe_code)]
    unsafe {
        CS::set_reg(gdt.code);
        DS::set_reg(gdt.data);
        ES::set_reg(gdt.data);
        SS::set_reg(gdt.data);
        load_tss(gdt.tss);
    }
    true
}
