package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/client"
)

// streamCmd is a command on one s2://basin/stream.
func (a *app) streamCmd(use, short string, extraArgs int, run func(cmd *cobra.Command, c *client.Client, u streamURI, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1 + extraArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseStreamURI(args[0])
			if err != nil {
				return err
			}
			return a.withClient(func(c *client.Client) error { return run(cmd, c, u, args[1:]) })
		},
	}
}

func (a *app) createStreamCmd() *cobra.Command {
	var sf streamConfigFlags
	cmd := a.streamCmd("create-stream S2_URI", "Create a stream", 0, func(cmd *cobra.Command, c *client.Client, u streamURI, _ []string) error {
		cfg, err := sf.config(cmd)
		if err != nil {
			return err
		}
		if _, err := c.Basin(u.basin).CreateStream(a.ctx, u.stream, client.CreateStreamOptions{Config: cfg}); err != nil {
			return op("create stream", err)
		}
		a.status(green, "✓ Stream created")
		return nil
	})
	sf.register(cmd)
	return cmd
}

func (a *app) deleteStreamCmd() *cobra.Command {
	return a.streamCmd("delete-stream S2_URI", "Delete a stream", 0, func(_ *cobra.Command, c *client.Client, u streamURI, _ []string) error {
		if err := c.Basin(u.basin).DeleteStream(a.ctx, u.stream); err != nil {
			return op("delete stream", err)
		}
		a.status(green, "✓ Stream deletion requested")
		return nil
	})
}

func (a *app) getStreamConfigCmd() *cobra.Command {
	return a.streamCmd("get-stream-config S2_URI", "Get stream config", 0, func(_ *cobra.Command, c *client.Client, u streamURI, _ []string) error {
		cfg, err := c.Basin(u.basin).GetStreamConfig(a.ctx, u.stream)
		if err != nil {
			return op("get stream config", err)
		}
		fmt.Fprintln(a.env.Stdout, renderTable(streamConfigValue(&cfg)))
		return nil
	})
}

func (a *app) reconfigureStreamCmd() *cobra.Command {
	var sf streamConfigFlags
	cmd := a.streamCmd("reconfigure-stream S2_URI", "Reconfigure a stream", 0, func(cmd *cobra.Command, c *client.Client, u streamURI, _ []string) error {
		r, err := sf.reconfiguration(cmd)
		if err != nil {
			return err
		}
		cfg, err := c.Basin(u.basin).ReconfigureStream(a.ctx, u.stream, r)
		if err != nil {
			return op("reconfigure stream", err)
		}
		a.status(green, "✓ Stream reconfigured")
		fmt.Fprintln(a.env.Stdout, renderTable(streamConfigValue(&cfg)))
		return nil
	})
	sf.register(cmd)
	return cmd
}

func (a *app) checkTailCmd() *cobra.Command {
	return a.streamCmd("check-tail S2_URI", "Check the tail position of a stream: the next sequence number and the last record's timestamp", 0,
		func(_ *cobra.Command, c *client.Client, u streamURI, _ []string) error {
			tail, err := c.Basin(u.basin).Stream(u.stream).CheckTail(a.ctx)
			if err != nil {
				return op("check tail", err)
			}
			fmt.Fprintf(a.env.Stdout, "%d @ %d\n", tail.SeqNum, tail.Timestamp)
			return nil
		})
}

// conditionFlags are -f/--fencing-token and -m/--match-seq-num.
type conditionFlags struct {
	fencingToken string
	matchSeqNum  uint64
}

func (f *conditionFlags) register(cmd *cobra.Command, fencingHelp, matchHelp string) {
	cmd.Flags().StringVarP(&f.fencingToken, "fencing-token", "f", "", fencingHelp)
	cmd.Flags().Uint64VarP(&f.matchSeqNum, "match-seq-num", "m", 0, matchHelp)
}

func (f *conditionFlags) values(cmd *cobra.Command) (*string, *uint64, error) {
	var ft *string
	var m *uint64
	if cmd.Flags().Changed("fencing-token") {
		if len(f.fencingToken) > 36 {
			return nil, nil, usagef("--fencing-token: at most 36 bytes")
		}
		ft = &f.fencingToken
	}
	if cmd.Flags().Changed("match-seq-num") {
		m = &f.matchSeqNum
	}
	return ft, m, nil
}

// commandTarget is the stream of a trim or fence command, with its key,
// and the command's fencing-token and match-seq-num conditions.
func (a *app) commandTarget(cmd *cobra.Command, c *client.Client, u streamURI, cf *conditionFlags, kf *keyFlags) (*client.Stream, *string, *uint64, error) {
	ft, m, err := cf.values(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := kf.resolve(a, cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	return c.Basin(u.basin).Stream(u.stream).WithEncryptionKey(key), ft, m, nil
}

func (a *app) trimCmd() *cobra.Command {
	var cf conditionFlags
	var kf keyFlags
	cmd := a.streamCmd("trim S2_URI TRIM_POINT", "Set a trim point for a stream: records before it are deleted", 1,
		func(cmd *cobra.Command, c *client.Client, u streamURI, args []string) error {
			tp, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usagef("invalid trim point %q: expected a sequence number", args[0])
			}
			st, ft, m, err := a.commandTarget(cmd, c, u, &cf, &kf)
			if err != nil {
				return err
			}
			ack, err := st.Trim(a.ctx, tp, ft, m)
			if err != nil {
				return op("trim", err)
			}
			a.status(green, "✓ [APPENDED] trim to %d // tail: %d @ %d", tp, ack.Start.SeqNum, ack.Start.Timestamp)
			return nil
		})
	cf.register(cmd, "enforce the fencing token", "enforce that the sequence number issued to the trim record matches")
	kf.register(cmd)
	return cmd
}

func (a *app) fenceCmd() *cobra.Command {
	var cf conditionFlags
	var kf keyFlags
	cmd := a.streamCmd("fence S2_URI NEW_FENCING_TOKEN", "Set a fencing token for a stream", 1,
		func(cmd *cobra.Command, c *client.Client, u streamURI, args []string) error {
			token := args[0]
			if len(token) > 36 {
				return usagef("new fencing token: at most 36 bytes")
			}
			st, ft, m, err := a.commandTarget(cmd, c, u, &cf, &kf)
			if err != nil {
				return err
			}
			ack, err := st.Fence(a.ctx, token, ft, m)
			if err != nil {
				return op("set fencing token", err)
			}
			a.status(green, "✓ [APPENDED] new fencing token \"%s\" // tail: %d @ %d", token, ack.Start.SeqNum, ack.Start.Timestamp)
			return nil
		})
	cf.register(cmd, "enforce the existing fencing token", "enforce that the sequence number issued to the fence record matches")
	kf.register(cmd)
	return cmd
}
