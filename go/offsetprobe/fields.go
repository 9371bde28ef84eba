// SPDX-License-Identifier: GPL-2.0-only

package offsetprobe

import (
	"fmt"
	"strconv"
)

// extractOffsets checks every element of calibration.fields (types, names,
// status/validation vocabulary, offset range) and keeps the usable ones. One
// bad field voids the entry: a writer that got one field wrong is not
// trusted for the others. Errors: ErrSchemaInvalid.
func extractOffsets(calibration interface{}, what string, out *Offsets) error {
	bad := func(m string) error { return newErr(ErrSchemaInvalid, what+": "+m) }
	fv, _ := member(calibration, "fields")
	fields, ok := fv.([]interface{})
	if !ok {
		return bad("missing \"calibration.fields\" array")
	}
	// The calibrator searches only below the task_struct slab object size it
	// recorded; an offset whose field ends past it cannot have come from it.
	sv, _ := member(calibration, "task_struct_size")
	maxEnd, hasMaxEnd := unsigned(sv)
	out.Fields = map[string]Field{}
	for i, f := range fields {
		at := "calibration.fields[" + strconv.Itoa(i) + "]"
		if _, ok := f.(map[string]interface{}); !ok {
			return bad(at + " is not an object")
		}
		name, nameOK := stringMember(f, "name")
		st, stOK := stringMember(f, "struct")
		mem, memOK := stringMember(f, "member")
		status, statusOK := stringMember(f, "status")
		validation, validationOK := stringMember(f, "validation")
		if !nameOK || !validName(name) || !stOK || !validName(st) || !memOK || !validName(mem) {
			return bad(at + ": \"name\", \"struct\" and \"member\" must be identifier paths")
		}
		at += " (" + name + ")"
		if name != st+"."+mem {
			return bad(at + ": \"name\" is not \"struct.member\"")
		}
		if !statusOK || (status != "calibrated" && status != "ambiguous" && status != "unresolved" &&
			status != "not_present") {
			return bad(at + ": \"status\" must be calibrated, ambiguous, unresolved or not_present")
		}
		if !validationOK || (validation != "passed" && validation != "failed" && validation != "not_run") {
			return bad(at + ": \"validation\" must be passed, failed or not_run")
		}
		szv, _ := member(f, "size")
		size, sizeOK := unsigned(szv)
		if !sizeOK || size > MaxFieldSize {
			return bad(fmt.Sprintf("%s: \"size\" must be an integer in 0..%d", at, MaxFieldSize))
		}
		offv, hasOff := member(f, "offset")
		if !hasOff {
			return bad(at + ": missing \"offset\" (null when not calibrated)")
		}
		var off uint64
		if offv != nil {
			var ok bool
			if off, ok = unsigned(offv); !ok {
				return bad(at + ": \"offset\" is not a non-negative integer")
			}
			if off >= MaxOffset {
				return bad(fmt.Sprintf("%s: \"offset\" %d is not below %d", at, off, MaxOffset))
			}
			if hasMaxEnd && off+size > maxEnd {
				return bad(fmt.Sprintf("%s: \"offset\" %d + size %d is past task_struct_size %d",
					at, off, size, maxEnd))
			}
		}
		calibrated := status == "calibrated"
		if calibrated && offv == nil {
			return bad(at + ": calibrated but \"offset\" is null")
		}
		if !calibrated && offv != nil {
			return bad(at + ": has an offset but is " + status)
		}
		var aliases []string
		if al, ok := member(f, "aliases"); ok {
			list, ok := al.([]interface{})
			if !ok {
				return bad(at + ": \"aliases\" is not an array")
			}
			for _, a := range list {
				s, ok := a.(string)
				if !ok || !validName(s) {
					return bad(at + ": an alias is not an identifier")
				}
				aliases = append(aliases, st+"."+s)
			}
		}
		if !calibrated {
			out.Omitted = append(out.Omitted, Omitted{name, status})
			continue
		}
		if validation != "passed" {
			out.Omitted = append(out.Omitted, Omitted{name, "calibrated but validation " + validation})
			continue
		}
		fld := Field{Offset: uint32(off), Size: uint32(size)}
		if _, dup := out.Fields[name]; dup {
			return bad(at + ": field listed twice")
		}
		out.Fields[name] = fld
		for _, a := range aliases {
			if _, dup := out.Fields[a]; dup {
				return bad(at + ": alias " + a + " collides with another name")
			}
			af := fld
			af.AliasOf = name
			out.Fields[a] = af
		}
	}
	return nil
}

// ParseEntry turns the bytes of a cache entry into usable offsets: the whole
// reader after the file read. what names the entry in messages. With
// expectedBuildID not empty, an entry of another build is refused.
// Errors: ErrCorrupt, ErrTruncated, ErrSchemaInvalid, ErrFutureSchema,
// ErrWrongBuildID.
func ParseEntry(b []byte, what, expectedBuildID string) (*Offsets, error) {
	j, err := parseJSON(b, what)
	if err != nil {
		return nil, err
	}
	k, at, err := checkHeader(j, what, expectedBuildID)
	if err != nil {
		return nil, err
	}
	o := &Offsets{Kernel: k, CalibratedAt: at}
	cal, _ := member(j, "calibration")
	if err := extractOffsets(cal, what, o); err != nil {
		return nil, err
	}
	return o, nil
}
