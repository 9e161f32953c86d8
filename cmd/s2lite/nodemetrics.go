package main

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/s2lite/s2lite/partition"
)

// nodeMetrics serves, on one /metrics, the metrics of every unit this node
// serves now, each series labelled partition="root" or "p<n>"; the Go
// runtime and process series, the same in every unit's registry, appear
// once.
type nodeMetrics struct {
	units func() map[int]*unitStack
}

func (m nodeMetrics) Gather() ([]*dto.MetricFamily, error) {
	units := m.units()
	ids := slices.Sorted(maps.Keys(units))
	var all prometheus.Gatherers
	for i, id := range ids {
		all = append(all, labelled{g: units[id].srv.Gatherer(), partition: partition.Name(id), runtime: i == 0})
	}
	return all.Gather()
}

func (m nodeMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m, promhttp.HandlerOpts{})
}

// labelled adds the partition label to every series of g, and drops the
// runtime series unless runtime is set.
type labelled struct {
	g         prometheus.Gatherer
	partition string
	runtime   bool
}

func (l labelled) Gather() ([]*dto.MetricFamily, error) {
	fams, err := l.g.Gather()
	out := fams[:0]
	name, value := "partition", l.partition
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "go_") || strings.HasPrefix(f.GetName(), "process_") {
			if l.runtime {
				out = append(out, f)
			}
			continue
		}
		for _, m := range f.Metric {
			m.Label = append(m.Label, &dto.LabelPair{Name: &name, Value: &value})
		}
		out = append(out, f)
	}
	return out, err
}
