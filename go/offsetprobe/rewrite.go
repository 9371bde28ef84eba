// SPDX-License-Identifier: GPL-2.0-only

package offsetprobe

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// RewriteConstants writes offsets into spec's constants (the BPF program's
// `const volatile` globals in .rodata) before the collection is loaded, so
// the verifier sees them as constants. consts maps a constant's name to the
// field whose offset it takes:
//
//	offsetprobe.RewriteConstants(spec, offs, map[string]string{
//		"off_group_leader":   "task_struct.group_leader",
//		"off_start_boottime": "task_struct.start_boottime",
//	})
//
// Each value is encoded in the constant's own size (1, 2, 4 or 8 bytes, as
// its BTF says), so __u32 and __u64 globals both work. Nothing is written
// unless every field is known: a field that is not calibrated and validated
// on this kernel is ErrFieldUnknown (an offset is never 0 for "unknown").
// A constant missing from spec or too small for its offset is a plain
// error. On any error the spec is left as it was.
func RewriteConstants(spec *ebpf.CollectionSpec, o *Offsets, consts map[string]string) error {
	if o == nil {
		return newErr(ErrFieldUnknown, "no offsets")
	}
	sizes, err := constantSizes(spec)
	if err != nil {
		return err
	}
	values := make(map[string]interface{}, len(consts))
	names := make([]string, 0, len(consts))
	for c := range consts {
		names = append(names, c)
	}
	sort.Strings(names)
	var unknown []string
	for _, c := range names {
		field := consts[c]
		off, ok := o.Offset(field)
		if !ok {
			unknown = append(unknown, field+" (for "+c+")")
			continue
		}
		size, ok := sizes[c]
		if !ok {
			return fmt.Errorf("rewriting constants: %s is not a global in the spec's .rodata", c)
		}
		switch size {
		case 1:
			if off > 0xff {
				return fmt.Errorf("rewriting constants: offset %d of %s does not fit %s (1 byte)", off, field, c)
			}
			values[c] = uint8(off)
		case 2:
			if off > 0xffff {
				return fmt.Errorf("rewriting constants: offset %d of %s does not fit %s (2 bytes)", off, field, c)
			}
			values[c] = uint16(off)
		case 4:
			values[c] = uint32(off)
		case 8:
			values[c] = uint64(off)
		default:
			return fmt.Errorf("rewriting constants: %s is %d bytes, not an integer", c, size)
		}
	}
	if len(unknown) > 0 {
		return newErr(ErrFieldUnknown, "not calibrated and validated on this kernel: "+
			strings.Join(unknown, ", ")+"; refusing to load with a guessed offset")
	}
	if err := spec.RewriteConstants(values); err != nil {
		return fmt.Errorf("rewriting constants: %w", err)
	}
	return nil
}

// constantSizes: the size of every variable of the spec's .rodata sections.
func constantSizes(spec *ebpf.CollectionSpec) (map[string]uint32, error) {
	sizes := map[string]uint32{}
	for name, m := range spec.Maps {
		if !strings.HasPrefix(name, ".rodata") {
			continue
		}
		ds, ok := m.Value.(*btf.Datasec)
		if !ok {
			continue // no BTF: cilium/ebpf cannot rewrite it either
		}
		for _, v := range ds.Vars {
			sizes[v.Type.TypeName()] = v.Size
		}
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("rewriting constants: the spec has no .rodata with BTF " +
			"(declare the offsets `const volatile` and build with -g)")
	}
	return sizes, nil
}
