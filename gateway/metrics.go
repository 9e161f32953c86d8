package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
)

// accountMetrics asks every unit for the account metrics and merges them:
// each unit counts the operations and basins it serves, so the account's
// figures are the sums (accumulations and gauges, per timestamp) and the
// unions (labels) of the units'.
func (g *Gateway) accountMetrics(w http.ResponseWriter, r *http.Request) {
	pages := g.askAll(r)

	type series struct {
		kind              string // accumulation or gauge
		Name, Unit, Intvl string
		sums              map[float64]float64
	}
	type label struct {
		name   string
		values map[string]bool
	}
	var order []string // kind:name in order of first appearance
	sums := map[string]*series{}
	labels := map[string]*label{}
	for _, p := range pages {
		if p.status != http.StatusOK {
			copyAnswer(w, p)
			return
		}
		var page struct {
			Values []map[string]json.RawMessage `json:"values"`
		}
		if err := json.Unmarshal(p.body, &page); err != nil {
			writeUnavailable(w, "account metrics: a partition answered: "+err.Error())
			return
		}
		for _, v := range page.Values {
			for kind, raw := range v {
				switch kind {
				case "label":
					var l struct {
						Name   string   `json:"name"`
						Values []string `json:"values"`
					}
					if json.Unmarshal(raw, &l) != nil {
						continue
					}
					key := kind + ":" + l.Name
					if labels[key] == nil {
						labels[key] = &label{name: l.Name, values: map[string]bool{}}
						order = append(order, key)
					}
					for _, x := range l.Values {
						labels[key].values[x] = true
					}
				case "accumulation", "gauge":
					var s struct {
						Name     string       `json:"name"`
						Unit     string       `json:"unit"`
						Interval string       `json:"interval"`
						Values   [][2]float64 `json:"values"`
					}
					if json.Unmarshal(raw, &s) != nil {
						continue
					}
					key := kind + ":" + s.Name + ":" + s.Interval
					if sums[key] == nil {
						sums[key] = &series{kind: kind, Name: s.Name, Unit: s.Unit, Intvl: s.Interval, sums: map[float64]float64{}}
						order = append(order, key)
					}
					for _, pt := range s.Values {
						sums[key].sums[pt[0]] += pt[1]
					}
				}
			}
		}
	}
	out := make([]any, 0, len(order))
	for _, key := range order {
		if l := labels[key]; l != nil {
			vals := make([]string, 0, len(l.values))
			for x := range l.values {
				vals = append(vals, x)
			}
			slices.Sort(vals)
			out = append(out, map[string]any{"label": map[string]any{"name": l.name, "values": vals}})
			continue
		}
		s := sums[key]
		ts := make([]float64, 0, len(s.sums))
		for t := range s.sums {
			ts = append(ts, t)
		}
		slices.Sort(ts)
		pts := make([][2]float64, 0, len(ts))
		for _, t := range ts {
			pts = append(pts, [2]float64{t, s.sums[t]})
		}
		body := map[string]any{"name": s.Name, "unit": s.Unit, "values": pts}
		if s.Intvl != "" {
			body["interval"] = s.Intvl
		}
		out = append(out, map[string]any{s.kind: body})
	}
	w.Header().Set(HeaderServedBy, g.opts.Node)
	writeJSON(w, map[string]any{"values": out})
}
