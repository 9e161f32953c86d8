package lincheck

import (
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

// Check runs the porcupine checker over ops. When the history is not
// linearizable (or the check times out) and dir is not empty, it writes
// porcupine's HTML visualization there and names the file in the error.
func Check(ops []porcupine.Operation, timeout time.Duration, dir string) (porcupine.CheckResult, error) {
	res, info := porcupine.CheckOperationsVerbose(Model, ops, timeout)
	if res == porcupine.Ok {
		return res, nil
	}
	err := fmt.Errorf("history of %d operations is %s", len(ops), res)
	if dir == "" {
		return res, err
	}
	f, ferr := os.CreateTemp(dir, "lincheck-*.html")
	if ferr != nil {
		return res, fmt.Errorf("%w (visualization: %v)", err, ferr)
	}
	defer f.Close()
	if verr := porcupine.Visualize(Model, info, f); verr != nil {
		return res, fmt.Errorf("%w (visualization: %v)", err, verr)
	}
	return res, fmt.Errorf("%w; visualization: %s", err, f.Name())
}
