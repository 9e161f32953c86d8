package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/humandur"
)

// maxInputLine bounds one input line: a 1 MiB record in json-base64 with
// its headers, with room to spare.
const maxInputLine = 8 << 20

func (a *app) appendCmd() *cobra.Command {
	var (
		cf     conditionFlags
		kf     keyFlags
		format string
		input  string
		linger string
	)
	cmd := &cobra.Command{
		Use:   "append S2_URI",
		Short: "Append records to a stream, one a line",
		Long: "Append newline-delimited records from a file or stdin. Records are batched (up to 1000 records or 1 MiB,\n" +
			"or what arrived within --linger) and pipelined through an append session; each acknowledged batch is\n" +
			"reported on stderr as \"✓ [APPENDED] start..end // tail: seq @ ts\".",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseStreamURI(args[0])
			if err != nil {
				return err
			}
			f, err := parseFormat(format)
			if err != nil {
				return err
			}
			ft, m, err := cf.values(cmd)
			if err != nil {
				return err
			}
			lg, err := time.ParseDuration(linger)
			if err != nil {
				secs, herr := humandur.Parse(linger)
				if herr != nil {
					return usagef("--linger: %v", herr)
				}
				lg = time.Duration(secs) * time.Second
			}
			key, err := kf.resolve(a, cmd)
			if err != nil {
				return err
			}
			in := a.env.Stdin
			if input != "" && input != "-" {
				file, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("failed to open input: %w", err)
				}
				defer file.Close()
				in = file
			}
			return a.withClient(func(c *client.Client) error {
				return a.appendRecords(c.Basin(u.basin).Stream(u.stream).WithEncryptionKey(key), in, f, ft, m, lg)
			})
		},
	}
	cf.register(cmd, "enforce the fencing token on every batch", "enforce that the first record gets this sequence number (and each later batch the next one)")
	cmd.Flags().StringVar(&format, "format", formatText, "input format: text, json (alias raw, jsonl) or json-base64 (aliases base64, json-binsafe)")
	cmd.Flags().StringVarP(&input, "input", "i", "-", `read records from a file, or "-" for stdin`)
	cmd.Flags().StringVar(&linger, "linger", "5ms", "how long to wait for more records before sending a batch")
	kf.register(cmd)
	return cmd
}

// lineRecord is a parsed input line, or why it could not be read.
type lineRecord struct {
	rec client.AppendRecord
	err error
}

// readLines parses input lines into records on a channel; it stops at the
// end of the input, at the first bad line, or when done is closed.
func readLines(in io.Reader, format string, out chan<- lineRecord, done <-chan struct{}) {
	defer close(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxInputLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		rec, err := parseRecordLine(line, format)
		if err == nil && rec.MeteredSize() > client.MaxBatchBytes {
			err = fmt.Errorf("record of %d metered bytes, at most %d", rec.MeteredSize(), client.MaxBatchBytes)
		}
		if err != nil {
			err = fmt.Errorf("failed to parse input line %d: %w", n, err)
		}
		select {
		case out <- lineRecord{rec, err}:
		case <-done:
			return
		}
		if err != nil {
			return
		}
	}
	if err := sc.Err(); err != nil {
		select {
		case out <- lineRecord{err: fmt.Errorf("failed to read input after line %d: %w", n, err)}:
		case <-done:
		}
	}
}

// appendRecords batches input lines and pipelines them through one
// append session, printing each batch's ack in order.
func (a *app) appendRecords(s *client.Stream, in io.Reader, format string, fencingToken *string, matchSeqNum *uint64, linger time.Duration) error {
	lines := make(chan lineRecord, client.MaxBatchRecords)
	done := make(chan struct{})
	defer close(done)
	go readLines(in, format, lines, done)

	var session *client.AppendSession
	acks := make(chan *client.PendingAck, 64)
	printed := make(chan error, 1)
	startPrinter := func() {
		go func() {
			var first error
			for p := range acks {
				ack, err := p.Wait(a.ctx)
				if err != nil {
					if first == nil {
						first = err
					}
					continue
				}
				a.status(green, "✓ [APPENDED] %d..%d // tail: %d @ %d", ack.Start.SeqNum, ack.End.SeqNum, ack.Tail.SeqNum, ack.Tail.Timestamp)
			}
			printed <- first
		}()
	}
	// finish ends the session and returns the first failure.
	finish := func() error {
		if session == nil {
			return nil
		}
		close(acks)
		perr := <-printed
		cerr := session.Close()
		if perr != nil {
			return perr
		}
		return cerr
	}

	var batch []client.AppendRecord
	var batchBytes int64
	var sent uint64
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if session == nil {
			var err error
			if session, err = s.AppendSession(a.ctx, client.AppendSessionOptions{}); err != nil {
				return err
			}
			startPrinter()
		}
		input := client.AppendInput{Records: batch, FencingToken: fencingToken}
		if matchSeqNum != nil {
			m := *matchSeqNum + sent
			input.MatchSeqNum = &m
		}
		p, err := session.Submit(a.ctx, input)
		if err != nil {
			return err
		}
		acks <- p
		sent += uint64(len(batch))
		batch, batchBytes = nil, 0
		timer.Stop()
		return nil
	}

	for {
		select {
		case lr, ok := <-lines:
			if !ok {
				if err := flush(); err != nil {
					return errors.Join(op("append", err), finish())
				}
				return op("append", finish())
			}
			if lr.err != nil {
				// Batches before the bad line are appended; say so.
				ferr := flush()
				ferr = errors.Join(ferr, finish())
				return errors.Join(lr.err, op("append", ferr))
			}
			size := lr.rec.MeteredSize()
			if len(batch) == client.MaxBatchRecords || batchBytes+size > client.MaxBatchBytes {
				if err := flush(); err != nil {
					return errors.Join(op("append", err), finish())
				}
			}
			if len(batch) == 0 {
				timer.Reset(linger)
			}
			batch = append(batch, lr.rec)
			batchBytes += size
		case <-timer.C:
			if err := flush(); err != nil {
				return errors.Join(op("append", err), finish())
			}
		case <-a.ctx.Done():
			// Interrupted: what was sent is acknowledged or failed; the
			// rest of the input is not appended.
			_ = finish()
			a.status(red, "■ [ABORTED]")
			return &interruptedError{msg: fmt.Sprintf("append interrupted after %d records were sent", sent)}
		}
	}
}
