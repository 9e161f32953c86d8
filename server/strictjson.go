package server

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// checkJSONText rejects what encoding/json would silently turn into
// U+FFFD: bytes that are not UTF-8, and \u escapes of unpaired UTF-16
// surrogates. JSON text must be Unicode (RFC 8259), and the reference
// answers both with 400 bad_json; accepting them would store a name or a
// record other than the one the client sent.
func checkJSONText(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("the body is not valid UTF-8")
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u`))
		if j < 0 {
			return nil
		}
		j += i
		i = j + 2
		// An escape only if the backslash is not itself escaped: an
		// even number of backslashes before it.
		k := j
		for k > 0 && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 1 {
			continue
		}
		r, ok := hex4(b, j+2)
		if !ok {
			continue // encoding/json reports the malformed escape itself
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return errors.New("a string has an unpaired low surrogate escape")
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := hex4(b, j+8)
			if !ok || j+7 >= len(b) || b[j+6] != '\\' || b[j+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
				return errors.New("a string has an unpaired high surrogate escape")
			}
			i = j + 12
		}
	}
}

// hex4 decodes four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
