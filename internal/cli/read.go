package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/humandur"
)

// recordSink writes records in one of the three formats; command records
// in text format go to stderr, as the official CLI does.
type recordSink struct {
	a      *app
	w      *bufio.Writer
	file   *os.File // when writing to a file
	format string
	buf    []byte
}

func (a *app) openSink(output, format string) (*recordSink, error) {
	s := &recordSink{a: a, format: format}
	if output == "" || output == "-" {
		s.w = bufio.NewWriterSize(a.env.Stdout, 256<<10)
		return s, nil
	}
	f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to write records: %w", err)
	}
	s.file, s.w = f, bufio.NewWriterSize(f, 256<<10)
	return s, nil
}

func (s *recordSink) write(r *client.SequencedRecord) error {
	switch s.format {
	case formatText:
		if r.Command() != "" {
			fmt.Fprintln(s.a.env.Stderr, s.a.paint(bold, commandText(r)))
			return nil
		}
		s.buf = append(append(s.buf[:0], lossy(r.Body)...), '\n')
	default:
		s.buf = append(appendRecordJSON(s.buf[:0], r, s.format == formatJSONBase64), '\n')
	}
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("failed to write records: %w", err)
	}
	return nil
}

func (s *recordSink) flush() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("failed to write records: %w", err)
	}
	return nil
}

func (s *recordSink) close() error {
	err := s.flush()
	if s.file != nil {
		if cerr := s.file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("failed to write records: %w", cerr)
		}
	}
	return err
}

// outputFlags are --format and -o/--output.
type outputFlags struct {
	format, output string
}

// parse checks the stream argument and --format of read and tail.
func (f *outputFlags) parse(uri string) (streamURI, string, error) {
	u, err := parseStreamURI(uri)
	if err != nil {
		return u, "", err
	}
	format, err := parseFormat(f.format)
	return u, format, err
}

func (f *outputFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.format, "format", formatText, "output format: text, json (alias raw, jsonl) or json-base64 (aliases base64, json-binsafe)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "-", `write records to a file, or "-" for stdout`)
}

func (a *app) readCmd() *cobra.Command {
	var (
		of                         outputFlags
		kf                         keyFlags
		seqNum, timestamp, tailOff uint64
		ago                        string
		count, bytes, until        uint64
		clamp                      bool
	)
	cmd := &cobra.Command{
		Use:   "read S2_URI",
		Short: "Read records from a stream",
		Long: "Read records from a stream. With -n/--count, -b/--bytes or --until, reading stops at the limit or when it reaches\n" +
			"the tail; without a limit it follows the stream, waiting for new records, until interrupted.\n" +
			"Without a start (-s, --timestamp, --ago, --tail-offset) it starts at the tail.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, format, err := of.parse(args[0])
			if err != nil {
				return err
			}
			key, err := kf.resolve(a, cmd)
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			o := client.ReadOptions{Clamp: clamp}
			switch {
			case fl.Changed("seq-num"):
				o.Start = client.FromSeqNum(seqNum)
			case fl.Changed("timestamp"):
				o.Start = client.FromTimestamp(timestamp)
			case fl.Changed("ago"):
				secs, err := humandur.Parse(ago)
				if err != nil {
					return usagef("--ago: %v", err)
				}
				now := uint64(time.Now().UnixMilli())
				o.Start = client.FromTimestamp(now - min(now, secs*1000))
			case fl.Changed("tail-offset"):
				o.Start = client.FromTailOffset(tailOff)
			default:
				o.Start = client.FromTailOffset(0)
			}
			if fl.Changed("count") || fl.Changed("limit") {
				o.Count = &count
			}
			if fl.Changed("bytes") {
				o.Bytes = &bytes
			}
			if fl.Changed("until") {
				o.Until = &until
			}
			if o.Count != nil && *o.Count == 0 {
				return nil // nothing asked for
			}
			return a.read(u, key, o, format, of.output, true, "read")
		},
	}
	fl := cmd.Flags()
	fl.Uint64VarP(&seqNum, "seq-num", "s", 0, "starting sequence number (inclusive)")
	fl.Uint64Var(&timestamp, "timestamp", 0, "starting timestamp in milliseconds since the Unix epoch (inclusive)")
	fl.StringVar(&ago, "ago", "", `starting timestamp as a delta from now, e.g. "1h"`)
	fl.Uint64Var(&tailOff, "tail-offset", 0, "start this many records before the tail")
	cmd.MarkFlagsMutuallyExclusive("seq-num", "timestamp", "ago", "tail-offset")
	fl.Uint64VarP(&count, "count", "n", 0, "limit the number of records returned")
	fl.Uint64Var(&count, "limit", 0, "alias of --count")
	cmd.MarkFlagsMutuallyExclusive("count", "limit")
	fl.Uint64VarP(&bytes, "bytes", "b", 0, "limit the number of (metered) bytes returned")
	fl.BoolVar(&clamp, "clamp", false, "start at the tail when the start is beyond it")
	fl.Uint64Var(&until, "until", 0, "exclusive end timestamp in milliseconds since the Unix epoch")
	of.register(cmd)
	kf.register(cmd)
	return cmd
}

func (a *app) tailCmd() *cobra.Command {
	var (
		of     outputFlags
		kf     keyFlags
		lines  uint64
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "tail S2_URI",
		Short: "Show the last records of a stream",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, format, err := of.parse(args[0])
			if err != nil {
				return err
			}
			key, err := kf.resolve(a, cmd)
			if err != nil {
				return err
			}
			o := client.ReadOptions{Start: client.FromTailOffset(lines), Clamp: true}
			if !follow {
				if lines == 0 {
					return nil
				}
				o.Count = &lines
			}
			return a.read(u, key, o, format, of.output, false, "tail")
		},
	}
	cmd.Flags().Uint64VarP(&lines, "lines", "n", 10, "output the last N records")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the stream, waiting for new records")
	of.register(cmd)
	kf.register(cmd)
	return cmd
}

// read runs a read session and writes its records until it ends or the
// command's context is cancelled (Ctrl-C), which ends it normally.
func (a *app) read(u streamURI, key client.EncryptionKey, o client.ReadOptions, format, output string, batchLines bool, opName string) error {
	return a.withClient(func(c *client.Client) error {
		rs, err := c.Basin(u.basin).Stream(u.stream).WithEncryptionKey(key).ReadSession(a.ctx, o)
		var rne *client.RangeNotSatisfiableError
		if errors.As(err, &rne) && opName == "tail" {
			return nil // an empty stream has no last records
		}
		if err != nil {
			return a.readEnd(op(opName, err))
		}
		defer rs.Close()
		sink, err := a.openSink(output, format)
		if err != nil {
			return err
		}
		defer sink.close()
		prog := a.newProgress(output)
		for {
			b, err := rs.Next()
			if errors.Is(err, io.EOF) {
				prog.done()
				return sink.close()
			}
			if err != nil {
				prog.done()
				if ferr := sink.close(); ferr != nil {
					return ferr
				}
				return a.readEnd(op(opName, err))
			}
			if len(b.Records) == 0 {
				continue
			}
			if batchLines {
				prog.batch(b.Records)
			}
			for i := range b.Records {
				if err := sink.write(&b.Records[i]); err != nil {
					return err
				}
			}
			if err := sink.flush(); err != nil {
				return err
			}
		}
	})
}

// readEnd turns the end of a read by interruption into the official
// CLI's "■ [ABORTED]" and a normal exit.
func (a *app) readEnd(err error) error {
	if a.ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, a.ctx.Err())) {
		a.status(red, "■ [ABORTED]")
		return nil
	}
	return err
}

// progress reports a read on stderr when it is a terminal: the official
// CLI's per-batch line when records go to the same terminal, otherwise a
// single line rewritten in place with records, bytes and rate.
type progress struct {
	a                *app
	on, inPlace      bool
	records, bytes   uint64
	start, lastPrint time.Time
}

func (a *app) newProgress(output string) *progress {
	p := &progress{a: a, on: a.env.StderrIsTerminal, start: time.Now()}
	p.inPlace = output != "-" && output != "" || !a.env.StdoutIsTerminal
	return p
}

func (p *progress) batch(recs []client.SequencedRecord) {
	if !p.on {
		return
	}
	var n uint64
	for i := range recs {
		n += uint64(recs[i].MeteredSize())
	}
	p.records += uint64(len(recs))
	p.bytes += n
	if !p.inPlace {
		noun := "records"
		if len(recs) == 1 {
			noun = "record"
		}
		p.a.status(blue, "⦿ %d bytes (%d %s in range %d..=%d)", n, len(recs), noun, recs[0].SeqNum, recs[len(recs)-1].SeqNum)
		return
	}
	if now := time.Now(); now.Sub(p.lastPrint) >= 200*time.Millisecond {
		p.lastPrint = now
		p.print()
	}
}

func (p *progress) print() {
	secs := max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.a.env.Stderr, "\r\x1b[2K%s", p.a.paint(blue, fmt.Sprintf("⦿ %d records · %.1f MiB · %.1f MiB/s",
		p.records, float64(p.bytes)/(1<<20), float64(p.bytes)/(1<<20)/secs)))
}

func (p *progress) done() {
	if p.on && p.inPlace && p.records > 0 {
		p.print()
		fmt.Fprintln(p.a.env.Stderr)
		p.on = false
	}
}
