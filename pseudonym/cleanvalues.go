package pseudonym

import "bytes"

// Structured bodies repeat values: a status, a category, the same note
// template in every record of an export. A value in which the detectors
// found nothing is noted (its bytes, compared whole, never a hash alone),
// so that the next occurrence skips them, as long as the stream has learnt
// and forgotten no name since: what a value holds depends only on its
// bytes, the stream's date and the names the stream has seen (seen,
// seenBits), and the generation counts every change to those.

const (
	cleanSlots    = 256      // direct-mapped slots
	maxCleanValue = 1 << 10  // longer values are not noted
	cleanMinValue = 24       // shorter ones cost less to scan than to note
	maxCleanBytes = 64 << 10 // bound on the bytes noted per stream
)

type cleanSlot struct {
	gen uint32
	v   []byte
}

type cleanValues struct {
	slots []cleanSlot // made on first use
	bytes int
}

func cleanIndex(v []byte) int {
	h := lowerHash(v) // any mix of the bytes: the slot only
	return int(h % cleanSlots)
}

// clean reports whether v was noted as clean in generation gen.
func (c *cleanValues) clean(v []byte, gen uint32) bool {
	if c.slots == nil || len(v) < cleanMinValue || len(v) > maxCleanValue {
		return false
	}
	sl := &c.slots[cleanIndex(v)]
	return sl.gen == gen && sl.v != nil && bytes.Equal(sl.v, v)
}

// note records v as clean in generation gen.
func (c *cleanValues) note(v []byte, gen uint32) {
	if len(v) < cleanMinValue || len(v) > maxCleanValue {
		return
	}
	if c.slots == nil {
		c.slots = make([]cleanSlot, cleanSlots)
	}
	sl := &c.slots[cleanIndex(v)]
	if cap(sl.v) < len(v) {
		n := (len(v) + 255) &^ 255 // room for the next values of about this length
		if c.bytes+n-cap(sl.v) > maxCleanBytes {
			return
		}
		c.bytes += n - cap(sl.v)
		sl.v = make([]byte, 0, n)
	}
	sl.v = append(sl.v[:0], v...)
	sl.gen = gen
}
