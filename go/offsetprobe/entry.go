// SPDX-License-Identifier: GPL-2.0-only

package offsetprobe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Field is one usable offset.
type Field struct {
	Offset  uint32
	Size    uint32
	AliasOf string // set when this name is an alias ("task_struct.real_start_time")
}

// Omitted is a field present in the entry but not usable, with why
// ("ambiguous", "calibrated but validation failed", ...).
type Omitted struct {
	Name string
	Why  string
}

// Offsets are the usable offsets of one kernel, by full name
// ("task_struct.pid") and by alias ("task_struct.real_start_time"): only
// fields that were calibrated and validated.
type Offsets struct {
	Kernel       KernelID
	CalibratedAt string
	Path         string // where they came from
	Fields       map[string]Field
	Omitted      []Omitted
}

// Offset returns the offset of a field by name; ok is false when the field
// is not calibrated and validated on this kernel (never 0 for "unknown").
func (o *Offsets) Offset(name string) (offset uint32, ok bool) {
	f, ok := o.Fields[name]
	return f.Offset, ok
}

// parseJSON: depth-limited parse of an entry. Numbers stay json.Number so
// that 8.0 (a float) is told from 8, as nlohmann's is_number_unsigned does.
// Errors: ErrCorrupt, ErrTruncated.
func parseJSON(text []byte, what string) (interface{}, error) {
	depth, inString, escape, any := 0, false, false, false
	for _, c := range text {
		if inString {
			if escape {
				escape = false
			} else if c == '\\' {
				escape = true
			} else if c == '"' {
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
		} else if c == '[' || c == '{' {
			depth++
			if depth > MaxJSONDepth {
				return nil, newErr(ErrCorrupt, fmt.Sprintf("%s is nested more than %d levels deep; "+
					"refusing to parse it", what, MaxJSONDepth))
			}
		} else if (c == ']' || c == '}') && depth > 0 {
			depth--
		}
		if c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			any = true
		}
	}
	if !any {
		return nil, newErr(ErrTruncated, what+" holds no JSON (empty or truncated)")
	}
	// encoding/json would replace a byte that is not UTF-8 with U+FFFD; the
	// C++ reader refuses the file, and so does this one.
	if !utf8.Valid(text) {
		return nil, newErr(ErrCorrupt, what+" is not valid JSON (not UTF-8)")
	}
	// Nor would it keep a \ud800 escape with no low surrogate after it.
	if !pairedSurrogates(text) {
		return nil, newErr(ErrCorrupt, what+" is not valid JSON (an unpaired UTF-16 surrogate escape)")
	}
	// nlohmann's parser skips a UTF-8 byte order mark at the start; so must
	// this reader, or the two would disagree on a file (shared fixture
	// utf8_bom).
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(text, []byte("\xef\xbb\xbf"))))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return nil, newErr(ErrTruncated, fmt.Sprintf("%s ends early after %d bytes (truncated JSON)",
				what, len(text)))
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, newErr(ErrCorrupt, fmt.Sprintf("%s is not valid JSON (byte %d)", what, se.Offset))
		}
		return nil, newErr(ErrCorrupt, what+" is not valid JSON")
	}
	var extra interface{}
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, newErr(ErrCorrupt, fmt.Sprintf("%s is not valid JSON (text after the document, byte %d)",
			what, dec.InputOffset()))
	}
	return v, nil
}

// pairedSurrogates: false when a string holds a \uD800-\uDBFF escape not
// followed by a \uDC00-\uDFFF one, or a low one alone. nlohmann refuses such
// text; encoding/json would quietly put U+FFFD in its place.
func pairedSurrogates(text []byte) bool {
	hex4 := func(i int) (int, bool) {
		if i+6 > len(text) || text[i] != '\\' || text[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(text[i+2:i+6]), 16, 32)
		return int(v), err == nil
	}
	inString := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			v, ok := hex4(i)
			if !ok {
				i++ // another escape: skip the escaped byte
				continue
			}
			switch {
			case v >= 0xDC00 && v <= 0xDFFF:
				return false
			case v >= 0xD800 && v <= 0xDBFF:
				lo, ok := hex4(i + 6)
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return false
				}
				i += 6
			}
			i += 5
		}
	}
	return true
}

// unsigned: the value when j is a non-negative integer literal that fits 64
// bits (nlohmann's is_number_unsigned: false for -0, 8.0, 1e3, booleans).
func unsigned(j interface{}) (uint64, bool) {
	n, ok := j.(json.Number)
	if !ok || len(n) == 0 {
		return 0, false
	}
	for _, c := range []byte(n) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	return v, err == nil
}

func member(j interface{}, key string) (interface{}, bool) {
	m, ok := j.(map[string]interface{})
	if !ok {
		return nil, false
	}
	v, ok := m[key]
	return v, ok
}

func stringMember(j interface{}, key string) (string, bool) {
	v, _ := member(j, key)
	s, ok := v.(string)
	return s, ok
}

// validName: an identifier path ("task_struct.signal.pids"), kept narrow so
// names can go into C macros and comments without escaping.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
		digit := c >= '0' && c <= '9'
		if !(alpha || (i > 0 && (digit || c == '.'))) {
			return false
		}
	}
	return s[len(s)-1] != '.'
}

// validTimestamp: "YYYY-MM-DDTHH:MM:SSZ" with optional fractional seconds.
func validTimestamp(s string) bool {
	const pat = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(pat)+1 || s[len(s)-1] != 'Z' {
		return false
	}
	for i := 0; i < len(pat); i++ {
		d := s[i] >= '0' && s[i] <= '9'
		if (pat[i] == 'd' && !d) || (pat[i] != 'd' && s[i] != pat[i]) {
			return false
		}
	}
	frac := s[len(pat) : len(s)-1]
	if frac == "" {
		return true
	}
	if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
		return false
	}
	for i := 1; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return false
		}
	}
	return true
}

// checkSchema: Schema, or why not. A higher "offsetprobe/vN" is
// ErrFutureSchema: a newer tool wrote it and its meaning may have changed.
func checkSchema(j interface{}, what string) error {
	if _, ok := j.(map[string]interface{}); !ok {
		return newErr(ErrSchemaInvalid, what+": top level is not a JSON object")
	}
	schema, ok := stringMember(j, "schema")
	if !ok {
		return newErr(ErrSchemaInvalid, what+": missing or non-string \"schema\"")
	}
	if schema == Schema {
		return nil
	}
	const prefix = "offsetprobe/v"
	if strings.HasPrefix(schema, prefix) {
		num := schema[len(prefix):]
		digits := num != "" && len(num) < 9 && strings.Trim(num, "0123456789") == ""
		if digits {
			if n, _ := strconv.Atoi(num); n > 1 {
				return newErr(ErrFutureSchema, what+": schema \""+schema+"\" was written by a newer "+
					"offsetprobe; this reader understands \""+Schema+"\" only (upgrade the reader or recalibrate)")
			}
		}
	}
	return newErr(ErrSchemaInvalid, what+": unknown schema \""+schema+"\" (expected \""+Schema+"\")")
}

// checkHeader: schema, kernel identity, tool, time; with an expected build
// id, an entry of another kernel is ErrWrongBuildID.
func checkHeader(j interface{}, what, expectedBuildID string) (KernelID, string, error) {
	var k KernelID
	if err := checkSchema(j, what); err != nil {
		return k, "", err
	}
	bad := func(m string) error { return newErr(ErrSchemaInvalid, what+": "+m) }
	kj, _ := member(j, "kernel")
	if _, ok := kj.(map[string]interface{}); !ok {
		return k, "", bad("missing \"kernel\" object")
	}
	id, idOK := stringMember(kj, "build_id")
	src, srcOK := stringMember(kj, "build_id_source")
	rel, relOK := stringMember(kj, "release")
	ver, verOK := stringMember(kj, "version")
	mach, machOK := stringMember(kj, "machine")
	if !idOK || !validBuildID(id) {
		return k, "", bad("\"kernel.build_id\" is missing or not a valid build id")
	}
	if !srcOK || (src != "gnu-build-id" && src != "proc-version-digest") {
		return k, "", bad("\"kernel.build_id_source\" must be \"gnu-build-id\" or \"proc-version-digest\"")
	}
	k.BuildID, k.Strong = id, src == "gnu-build-id"
	if k.Strong == strings.HasPrefix(id, procVersionPrefix) {
		return k, "", bad("\"kernel.build_id_source\" does not match the form of \"kernel.build_id\"")
	}
	if !relOK || !verOK || !machOK {
		return k, "", bad("\"kernel.release\", \"kernel.version\" and \"kernel.machine\" must be strings")
	}
	k.Release, k.Version, k.Machine = rel, ver, mach
	tj, _ := member(j, "tool")
	if _, ok := tj.(map[string]interface{}); !ok {
		return k, "", bad("missing \"tool\" object")
	}
	_, tnOK := stringMember(tj, "name")
	_, tvOK := stringMember(tj, "version")
	if !tnOK || !tvOK {
		return k, "", bad("\"tool.name\" and \"tool.version\" must be strings")
	}
	at, ok := stringMember(j, "calibrated_at")
	if !ok || !validTimestamp(at) {
		return k, "", bad("\"calibrated_at\" is missing or not an ISO-8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)")
	}
	cj, _ := member(j, "calibration")
	if _, ok := cj.(map[string]interface{}); !ok {
		return k, "", bad("missing \"calibration\" object")
	}
	if expectedBuildID != "" && expectedBuildID != k.BuildID {
		return k, "", newErr(ErrWrongBuildID, what+": entry is for kernel build "+k.BuildID+" ("+
			k.Release+"), but the running kernel is "+expectedBuildID+"; refusing to use offsets of another build")
	}
	return k, at, nil
}
