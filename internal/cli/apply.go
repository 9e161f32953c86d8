package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/humandur"
	"github.com/s2lite/s2lite/internal/initspec"
)

func (a *app) applyCmd() *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Apply a declarative spec file, ensuring basins and streams",
		Long: "Ensure the basins and streams a JSON spec file declares (the format of `serve --init-file`), with\n" +
			"the configuration it gives; omitted fields are defaulted, not preserved.\n\n" +
			"Dry-run output legend:  + create   ~ ensure (changes)   = unchanged",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(file)
			if err != nil {
				return usagef("failed to read spec file %q: %v", file, err)
			}
			spec, err := initspec.Parse(data)
			if err != nil {
				return usagef("failed to parse spec file %q: %v", file, err)
			}
			return a.withClient(func(c *client.Client) error {
				if dryRun {
					return a.dryRun(c, spec)
				}
				return a.apply(c, spec)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "path to a JSON spec file of basins and streams")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the changes without making them")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func specStreamConfig(c *initspec.StreamConfig) *client.StreamConfig {
	if c == nil {
		return nil
	}
	out := &client.StreamConfig{StorageClass: c.StorageClass}
	if r := c.RetentionPolicy; r != nil {
		out.RetentionPolicy = &client.RetentionPolicy{Infinite: r.Infinite, AgeSecs: r.AgeSecs}
	}
	if t := c.Timestamping; t != nil {
		out.Timestamping = &client.Timestamping{Mode: t.Mode, Uncapped: t.Uncapped}
	}
	if d := c.DeleteOnEmpty; d != nil {
		out.DeleteOnEmpty = &client.DeleteOnEmpty{MinAgeSecs: d.MinAgeSecs}
	}
	return out
}

func specBasinConfig(c *initspec.BasinConfig) *client.BasinConfig {
	if c == nil {
		return nil
	}
	return &client.BasinConfig{
		DefaultStreamConfig:  specStreamConfig(c.DefaultStreamConfig),
		StreamCipher:         c.StreamCipher,
		CreateStreamOnAppend: c.CreateStreamOnAppend,
		CreateStreamOnRead:   c.CreateStreamOnRead,
	}
}

// apply ensures each basin, then its streams, reporting what each ensure
// did.
func (a *app) apply(c *client.Client, spec *initspec.Spec) error {
	describe := map[client.ProvisionResult]struct {
		st   style
		text string
	}{"created": {green, "created"}, "updated": {yellow, "config updated"}, "noop": {dim, "config unchanged"}}
	for _, b := range spec.Basins {
		_, res, err := c.EnsureBasin(a.ctx, b.Name, specBasinConfig(b.Config))
		if err != nil {
			return fmt.Errorf("apply failed: failed to apply basin %q: %s", b.Name, describeErr(err))
		}
		d := describe[res]
		a.status(d.st, "  basin %s (%s)", b.Name, d.text)
		for _, s := range b.Streams {
			_, res, err := c.Basin(b.Name).EnsureStream(a.ctx, s.Name, specStreamConfig(s.Config))
			if err != nil {
				return fmt.Errorf("apply failed: failed to apply stream %q/%q: %s", b.Name, s.Name, describeErr(err))
			}
			d := describe[res]
			a.status(d.st, "  stream %s/%s (%s)", b.Name, s.Name, d.text)
		}
	}
	a.status(green, "✓ Done")
	return nil
}

func describeErr(err error) string { return describe(err) }

// field is one configuration field as apply's dry run prints it.
type field struct{ name, value string }

// resolvedStream is a stream config with every field defaulted (API 4.1):
// the stream's own value, else the basin default, else the system
// default.
func resolvedStream(own, basinDefault *client.StreamConfig) []field {
	pick := func(get func(*client.StreamConfig) *string, def string) string {
		for _, c := range []*client.StreamConfig{own, basinDefault} {
			if c != nil {
				if v := get(c); v != nil {
					return *v
				}
			}
		}
		return def
	}
	str := func(s string) *string { return &s }
	return []field{
		{"storage_class", pick(func(c *client.StreamConfig) *string { return c.StorageClass }, client.StorageClassExpress)},
		{"retention_policy", pick(func(c *client.StreamConfig) *string {
			if c.RetentionPolicy == nil {
				return nil
			}
			if c.RetentionPolicy.Infinite {
				return str("infinite")
			}
			return str(humandur.Format(c.RetentionPolicy.AgeSecs))
		}, humandur.Format(7*86400))},
		{"timestamping.mode", pick(func(c *client.StreamConfig) *string {
			if c.Timestamping == nil {
				return nil
			}
			return c.Timestamping.Mode
		}, client.TimestampingClientPrefer)},
		{"timestamping.uncapped", pick(func(c *client.StreamConfig) *string {
			if c.Timestamping == nil || c.Timestamping.Uncapped == nil {
				return nil
			}
			return str(strconv.FormatBool(*c.Timestamping.Uncapped))
		}, "false")},
		{"delete_on_empty.min_age", pick(func(c *client.StreamConfig) *string {
			if c.DeleteOnEmpty == nil {
				return nil
			}
			return str(humandur.Format(c.DeleteOnEmpty.MinAgeSecs))
		}, "0s")},
	}
}

func resolvedBasin(c *client.BasinConfig) []field {
	if c == nil {
		c = &client.BasinConfig{}
	}
	cipher := "none"
	if c.StreamCipher != nil {
		cipher = *c.StreamCipher
	}
	fs := []field{
		{"stream_cipher", cipher},
		{"create_stream_on_append", strconv.FormatBool(c.CreateStreamOnAppend)},
		{"create_stream_on_read", strconv.FormatBool(c.CreateStreamOnRead)},
	}
	for _, f := range resolvedStream(c.DefaultStreamConfig, nil) {
		fs = append(fs, field{"default_stream_config." + f.name, f.value})
	}
	return fs
}

// dryRun prints what apply would do: + create, ~ change (field: old →
// new), = unchanged.
func (a *app) dryRun(c *client.Client, spec *initspec.Spec) error {
	out := a.env.Stdout
	show := func(indent, kind, name string, have, want []field, exists bool) {
		switch {
		case !exists:
			fmt.Fprintln(out, a.paintOut(green, indent+"+ "+kind+" "+name))
			for _, f := range want {
				fmt.Fprintf(out, "%s    %s: %s\n", indent, f.name, f.value)
			}
		default:
			var changed []string
			for i, f := range want {
				if have[i].value != f.value {
					changed = append(changed, fmt.Sprintf("%s    %s: %s → %s", indent, f.name, have[i].value, f.value))
				}
			}
			if len(changed) == 0 {
				fmt.Fprintln(out, a.paintOut(dim, indent+"= "+kind+" "+name))
				return
			}
			fmt.Fprintln(out, a.paintOut(yellow, indent+"~ "+kind+" "+name))
			for _, l := range changed {
				fmt.Fprintln(out, l)
			}
		}
	}
	for _, b := range spec.Basins {
		want := specBasinConfig(b.Config)
		have, err := c.GetBasinConfig(a.ctx, b.Name)
		exists := true
		if isNotFound(err) {
			exists = false
		} else if err != nil {
			return fmt.Errorf("apply failed: failed to read basin %q: %s", b.Name, describeErr(err))
		}
		show("", "basin", b.Name, resolvedBasin(&have), resolvedBasin(want), exists)
		var wantDefault *client.StreamConfig
		if want != nil {
			wantDefault = want.DefaultStreamConfig
		}
		for _, s := range b.Streams {
			wantS := resolvedStream(specStreamConfig(s.Config), wantDefault)
			sExists := false
			var haveS []field
			if exists {
				cfg, err := c.Basin(b.Name).GetStreamConfig(a.ctx, s.Name)
				switch {
				case err == nil:
					sExists, haveS = true, resolvedStream(&cfg, nil)
				case !isNotFound(err):
					return fmt.Errorf("apply failed: failed to read stream %q/%q: %s", b.Name, s.Name, describeErr(err))
				}
			}
			show("  ", "stream", b.Name+"/"+s.Name, haveS, wantS, sExists)
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == 404
}

// paintOut colours stdout text when stderr is a terminal too (the dry run
// is for people).
func (a *app) paintOut(st style, s string) string {
	if !a.env.StdoutIsTerminal {
		return s
	}
	return string(st) + s + "\x1b[0m"
}
