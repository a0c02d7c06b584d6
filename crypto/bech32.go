package crypto

// Bech32 (BIP 173) without the 90-character limit, as age uses it for its
// keys: a post-quantum recipient is about 1 950 characters long.

import (
	"errors"
	"fmt"
	"strings"
)

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var bech32Generator = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

func bech32Polymod(hrp string, values []byte) uint32 {
	chk := uint32(1)
	step := func(v byte) {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if top>>i&1 == 1 {
				chk ^= bech32Generator[i]
			}
		}
	}
	for i := 0; i < len(hrp); i++ {
		step(hrp[i] >> 5)
	}
	step(0)
	for i := 0; i < len(hrp); i++ {
		step(hrp[i] & 31)
	}
	for _, v := range values {
		step(v)
	}
	return chk
}

// convertBits regroups data from groups of from bits into groups of to bits.
func convertBits(data []byte, from, to uint, pad bool) ([]byte, error) {
	var (
		acc  uint32
		bits uint
		out  = make([]byte, 0, len(data)*int(from)/int(to)+1)
		maxv = uint32(1)<<to - 1
	)
	for _, v := range data {
		if uint32(v)>>from != 0 {
			return nil, errors.New("invalid data range")
		}
		acc = acc<<from | uint32(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	switch {
	case pad:
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&maxv))
		}
	case bits >= from:
		return nil, errors.New("illegal zero padding")
	case acc<<(to-bits)&maxv != 0:
		return nil, errors.New("non-zero padding")
	}
	return out, nil
}

// bech32Encode encodes data under hrp. An upper-case hrp gives an upper-case
// string, as age does for secret keys.
func bech32Encode(hrp string, data []byte) string {
	upper := strings.ToUpper(hrp) == hrp && strings.ToLower(hrp) != hrp
	hrp = strings.ToLower(hrp)
	values, _ := convertBits(data, 8, 5, true) // cannot fail for 8-bit input
	mod := bech32Polymod(hrp, append(values, 0, 0, 0, 0, 0, 0)) ^ 1
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(values) + 6)
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, v := range values {
		b.WriteByte(bech32Charset[v])
	}
	for i := range 6 {
		b.WriteByte(bech32Charset[mod>>(5*(5-i))&31])
	}
	if upper {
		return strings.ToUpper(b.String())
	}
	return b.String()
}

// bech32Decode returns the hrp (in the case of the input) and the data.
// Its errors never quote the input, which may be a secret key.
func bech32Decode(s string) (hrp string, data []byte, err error) {
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, errors.New("mixed case")
	}
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, errors.New("separator '1' missing or misplaced")
	}
	hrp = s[:pos]
	for i := 0; i < len(hrp); i++ {
		if hrp[i] < 33 || hrp[i] > 126 {
			return "", nil, fmt.Errorf("invalid character in prefix at position %d", i)
		}
	}
	lower := strings.ToLower(s)
	values := make([]byte, 0, len(s)-pos-1)
	for i := pos + 1; i < len(lower); i++ {
		d := strings.IndexByte(bech32Charset, lower[i])
		if d < 0 {
			return "", nil, fmt.Errorf("invalid character at position %d", i)
		}
		values = append(values, byte(d))
	}
	if bech32Polymod(lower[:pos], values) != 1 {
		return "", nil, errors.New("invalid checksum")
	}
	data, err = convertBits(values[:len(values)-6], 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}
