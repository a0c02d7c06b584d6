package nextcloud

import (
	"context"
	"testing"
	"time"
)

func TestChunkOrder(t *testing.T) {
	var o chunkOrder
	ctx := context.Background()
	start := time.Now()
	// Chunk 1 needs nothing; chunk 3 waits for 2, which waits for 1.
	got := make(chan int, 3)
	go func() {
		done := o.wait(ctx, "u", 3, 0)
		got <- 3
		done()
	}()
	time.Sleep(20 * time.Millisecond)
	go func() {
		done := o.wait(ctx, "u", 2, 0)
		got <- 2
		done()
	}()
	time.Sleep(20 * time.Millisecond)
	done := o.wait(ctx, "u", 1, 0)
	got <- 1
	done()
	for _, want := range []int{1, 2, 3} {
		if n := <-got; n != want {
			t.Fatalf("chunk %d went before chunk %d", n, want)
		}
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the chunks waited for the timeout, not for each other")
	}
	// A chunk whose predecessor the state already holds does not wait.
	o.forget("u")
	start = time.Now()
	o.wait(ctx, "u", 7, 6)()
	if time.Since(start) > time.Second {
		t.Error("chunk 7 waited though chunk 6 was appended")
	}
	// A cancelled request stops waiting.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	o.wait(cctx, "v", 5, 0)
}
