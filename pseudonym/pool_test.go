package pseudonym

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// Streams reuse each other's buffers: running them at once, in any order,
// after failed streams, must give what each gives alone.
func TestConcurrentStreamsMatchSequential(t *testing.T) {
	p, _ := newTestPseudonymizer(t, Config{})
	ctx := context.Background()
	type job struct {
		f  Format
		in string
	}
	var jobs []job
	for _, d := range loadCorpus(t) {
		jobs = append(jobs, job{d.format, d.text})
	}
	jobs = append(jobs,
		job{FormatText, strings.Repeat("Vi har pratat med Anna Berg om 121212-1212.\n", 5000)}, // several chunks
		job{FormatJSON, `{"namn":"Anna Berg","x":`},                                            // fails
		job{FormatCSV, "a,b\n\"x,1\n"},                                                         // fails
	)
	want := make([]string, len(jobs))
	for i, j := range jobs {
		want[i], _, _ = p.PseudonymizeString(ctx, j.f, j.in)
	}
	var wg sync.WaitGroup
	for round := 0; round < 4; round++ {
		for i := range jobs {
			k := (i*7 + round) % len(jobs)
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, _, _ := p.PseudonymizeString(ctx, jobs[k].f, jobs[k].in)
				if got != want[k] {
					t.Errorf("job %d (%s) differs when run with others", k, jobs[k].f)
				}
			}()
		}
	}
	wg.Wait()
}
