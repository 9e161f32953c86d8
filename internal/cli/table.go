package cli

import (
	"strings"
	"unicode/utf8"
)

// The official CLI prints configurations as nested ASCII tables (the
// json_to_table crate over its own serialisation of the config). tvalue
// is that serialisation: an ordered object, a string, a bool, or null.
type tvalue struct {
	kind   byte // 'o' object, 's' scalar, 'n' null
	keys   []string
	values []tvalue
	scalar string
}

func tnull() tvalue           { return tvalue{kind: 'n'} }
func tscalar(s string) tvalue { return tvalue{kind: 's', scalar: s} }
func tobject() *tvalue        { return &tvalue{kind: 'o'} }
func (t *tvalue) add(k string, v tvalue) *tvalue {
	t.keys = append(t.keys, k)
	t.values = append(t.values, v)
	return t
}

// renderTable draws v the way json_to_table does: an object is a grid of
// key and value cells, a nested object a grid inside its cell, a scalar a
// padded cell, null an empty one.
func renderTable(v tvalue) string {
	return strings.Join(render(v, true), "\n")
}

// render returns the lines of v's drawing.
func render(v tvalue, outer bool) []string {
	switch v.kind {
	case 'n':
		return []string{""}
	case 's':
		if outer {
			return grid([][][]string{{{v.scalar}}})
		}
		return []string{" " + v.scalar + " "}
	}
	if len(v.keys) == 0 {
		return []string{""}
	}
	rows := make([][][]string, len(v.keys))
	for i, k := range v.keys {
		rows[i] = [][]string{{k}, render(v.values[i], false)}
	}
	return grid(rows)
}

// grid draws rows of cells (each cell a list of lines) with +---+ rules.
func grid(rows [][][]string) []string {
	var widths []int
	for _, row := range rows {
		for j, cell := range row {
			if j >= len(widths) {
				widths = append(widths, 0)
			}
			for _, line := range cell {
				widths[j] = max(widths[j], utf8.RuneCountInString(line))
			}
		}
	}
	var rule strings.Builder
	rule.WriteByte('+')
	for _, w := range widths {
		rule.WriteString(strings.Repeat("-", w+2))
		rule.WriteByte('+')
	}
	out := []string{rule.String()}
	for _, row := range rows {
		height := 0
		for _, cell := range row {
			height = max(height, len(cell))
		}
		for l := range height {
			var b strings.Builder
			b.WriteByte('|')
			for j, w := range widths {
				line := ""
				if j < len(row) && l < len(row[j]) {
					line = row[j][l]
				}
				b.WriteByte(' ')
				b.WriteString(line)
				b.WriteString(strings.Repeat(" ", w-utf8.RuneCountInString(line)))
				b.WriteString(" |")
			}
			out = append(out, b.String())
		}
		out = append(out, rule.String())
	}
	return out
}
