package cli

import (
	"fmt"
	"iter"
	"time"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/client"
)

func (a *app) listBasinsCmd() *cobra.Command {
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list-basins",
		Short: "List basins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listBasins(&lf)
		},
	}
	lf.register(cmd, "basin")
	return cmd
}

func (a *app) lsCmd() *cobra.Command {
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "ls [BASIN|S2_URI]",
		Short: "List basins, or the streams in a basin (s2://{basin}/{prefix})",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return a.listBasins(&lf)
			}
			basin, err := streamsIn(args[0], &lf)
			if err != nil {
				return err
			}
			return a.listStreams(basin, &lf, true)
		},
	}
	lf.register(cmd, "basin or stream")
	return cmd
}

func (a *app) listBasins(lf *listFlags) error {
	return a.withClient(func(c *client.Client) error {
		return each(a, lf, "list basins",
			func(o client.ListOptions) ([]client.BasinInfo, error) {
				page, err := c.ListBasins(a.ctx, o)
				return page.Basins, err
			},
			func(o client.ListOptions) iter.Seq2[client.BasinInfo, error] { return c.AllBasins(a.ctx, o) },
			func(b client.BasinInfo) {
				if b.DeletedAt != nil {
					fmt.Fprintf(a.env.Stdout, "%s %s\n", b.Name, "[deleting]")
					return
				}
				fmt.Fprintln(a.env.Stdout, b.Name)
			})
	})
}

// each prints one page, or every item page after page, of a listing.
func each[T any](a *app, lf *listFlags, opName string, page func(client.ListOptions) ([]T, error),
	all func(client.ListOptions) iter.Seq2[T, error], print func(T)) error {
	o, err := lf.options()
	if err != nil {
		return err
	}
	if lf.noAutoPaginate {
		items, err := page(o)
		if err != nil {
			return op(opName, err)
		}
		for _, it := range items {
			print(it)
		}
		return nil
	}
	for it, err := range all(o) {
		if err != nil {
			return op(opName, err)
		}
		print(it)
	}
	return nil
}

// streamsIn parses the BASIN|S2_URI argument of ls and list-streams: a
// stream name prefix may come in the URI or with --prefix, not both.
func streamsIn(arg string, lf *listFlags) (string, error) {
	basin, prefix, hasPrefix, err := parseS2URI(arg, true)
	if err != nil {
		return "", err
	}
	if hasPrefix {
		if lf.prefix != "" {
			return "", usagef("multiple prefixes provided: give the prefix once, with --prefix or in the URI (s2://basin-name/prefix)")
		}
		lf.prefix = prefix
	}
	return basin, nil
}

func (a *app) listStreamsCmd() *cobra.Command {
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list-streams BASIN|S2_URI",
		Short: "List streams",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			basin, prefix, hasPrefix, err := parseS2URI(args[0], true)
			if err != nil {
				return err
			}
			if hasPrefix {
				if lf.prefix != "" {
					return usagef("multiple prefixes provided: give the prefix once, with --prefix or in the URI (s2://basin-name/prefix)")
				}
				lf.prefix = prefix
			}
			return a.listStreams(basin, &lf, false)
		},
	}
	lf.register(cmd, "stream")
	return cmd
}

// listStreams prints s2://basin/stream lines; ls adds the creation time.
func (a *app) listStreams(basin string, lf *listFlags, withCreatedAt bool) error {
	return a.withClient(func(c *client.Client) error {
		b := c.Basin(basin)
		return each(a, lf, "list streams",
			func(o client.ListOptions) ([]client.StreamInfo, error) {
				page, err := b.ListStreams(a.ctx, o)
				return page.Streams, err
			},
			func(o client.ListOptions) iter.Seq2[client.StreamInfo, error] { return b.AllStreams(a.ctx, o) },
			func(s client.StreamInfo) {
				line := "s2://" + basin + "/" + s.Name
				if withCreatedAt {
					line += " " + s.CreatedAt.UTC().Format(time.RFC3339Nano)
				}
				if s.DeletedAt != nil {
					line += " [deleting]"
				}
				fmt.Fprintln(a.env.Stdout, line)
			})
	})
}

// basinCmd is a command on one basin (BASIN or s2://basin).
func (a *app) basinCmd(use, short string, run func(cmd *cobra.Command, c *client.Client, basin string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			basin, err := parseBasinURI(args[0])
			if err != nil {
				return err
			}
			return a.withClient(func(c *client.Client) error { return run(cmd, c, basin) })
		},
	}
}

func (a *app) createBasinCmd() *cobra.Command {
	var sf streamConfigFlags
	cipher := cipherChoice()
	var onAppend, onRead bool
	var location string
	cmd := a.basinCmd("create-basin BASIN", "Create a basin", func(cmd *cobra.Command, c *client.Client, basin string) error {
		dsc, err := sf.config(cmd)
		if err != nil {
			return err
		}
		cfg := &client.BasinConfig{DefaultStreamConfig: dsc, CreateStreamOnAppend: onAppend, CreateStreamOnRead: onRead}
		if cipher.v != "" {
			cfg.StreamCipher = &cipher.v
		}
		if _, err := c.CreateBasin(a.ctx, basin, client.CreateBasinOptions{Config: cfg}); err != nil {
			return op("create basin", err)
		}
		a.status(green, "✓ Basin created")
		return nil
	})
	sf.register(cmd)
	cmd.Flags().Var(cipher, "stream-cipher", "encryption algorithm for streams created in this basin: aegis-256 or aes-256-gcm")
	cmd.Flags().BoolVar(&onAppend, "create-stream-on-append", false, "create a stream with the basin defaults when appending to one that does not exist")
	cmd.Flags().BoolVar(&onRead, "create-stream-on-read", false, "create a stream with the basin defaults when reading one that does not exist")
	cmd.Flags().StringVar(&location, "location", "", "basin location (ignored by s2lite, which has one)")
	return cmd
}

func (a *app) deleteBasinCmd() *cobra.Command {
	return a.basinCmd("delete-basin BASIN", "Delete a basin", func(_ *cobra.Command, c *client.Client, basin string) error {
		if err := c.DeleteBasin(a.ctx, basin); err != nil {
			return op("delete basin", err)
		}
		a.status(green, "✓ Basin deletion requested")
		return nil
	})
}

func (a *app) getBasinConfigCmd() *cobra.Command {
	return a.basinCmd("get-basin-config BASIN", "Get basin config", func(_ *cobra.Command, c *client.Client, basin string) error {
		cfg, err := c.GetBasinConfig(a.ctx, basin)
		if err != nil {
			return op("get basin config", err)
		}
		fmt.Fprintln(a.env.Stdout, renderTable(basinConfigValue(&cfg)))
		return nil
	})
}

func (a *app) reconfigureBasinCmd() *cobra.Command {
	var sf streamConfigFlags
	cipher := cipherChoice()
	var onAppend, onRead optBool
	cmd := a.basinCmd("reconfigure-basin BASIN", "Reconfigure a basin", func(cmd *cobra.Command, c *client.Client, basin string) error {
		var r client.BasinReconfiguration
		dsc, err := sf.reconfiguration(cmd)
		if err != nil {
			return err
		}
		if dsc != (client.StreamReconfiguration{}) {
			r.DefaultStreamConfig = client.SetTo(dsc)
		}
		if cipher.v != "" {
			r.StreamCipher = client.SetTo(cipher.v)
		}
		r.CreateStreamOnAppend, r.CreateStreamOnRead = onAppend.v, onRead.v
		cfg, err := c.ReconfigureBasin(a.ctx, basin, r)
		if err != nil {
			return op("reconfigure basin", err)
		}
		a.status(green, "✓ Basin reconfigured")
		fmt.Fprintln(a.env.Stdout, renderTable(basinConfigValue(&cfg)))
		return nil
	})
	sf.register(cmd)
	cmd.Flags().Var(cipher, "stream-cipher", "encryption algorithm for streams created in this basin: aegis-256 or aes-256-gcm")
	cmd.Flags().Var(&onAppend, "create-stream-on-append", "create streams on append with the basin defaults (true or false)")
	cmd.Flags().Var(&onRead, "create-stream-on-read", "create streams on read with the basin defaults (true or false)")
	return cmd
}
