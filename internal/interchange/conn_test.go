package interchange

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/wsframe"
)

// TestSenderChunks: frames of every size class (in the first chunk, in
// later chunks, over a chunk), masked or not, queued from several
// goroutines at once, come out of a real socket whole and, per producer,
// in order.
func TestSenderChunks(t *testing.T) {
	for _, masked := range []bool{false, true} {
		t.Run(fmt.Sprint("masked=", masked), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			out, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			in := <-accepted
			defer in.Close()
			s := newSender(out, QueueLimits{MaxFrames: 1 << 20, MaxBytes: 1 << 30, WriteTimeout: 10 * time.Second})
			sizes := []int{1, 125, 126, 3000, firstChunkSize, firstChunkSize + 1, 20000, chunkSize - 14, chunkSize, 70000, 200000}
			const producers, rounds = 3, 20
			// Frame i of round r of producer p: "p:rr:ii" then its letter.
			frame := func(p, r, i int) []byte {
				b := bytes.Repeat([]byte{byte('a' + p)}, sizes[i])
				if len(b) >= 8 {
					copy(b, fmt.Sprintf("%d:%02d:%02d", p, r, i))
				}
				return b
			}
			for p := range producers {
				go func() {
					for r := range rounds {
						for i := range sizes {
							f := frame(p, r, i)
							if !s.sendText(masked, f[:len(f)/2], f[len(f)/2:]) {
								t.Errorf("frame %d of producer %d dropped", i, p)
							}
						}
					}
				}()
			}
			fr := wsframe.Reader{BR: bufio.NewReader(in), Max: 1 << 20, Masked: masked, KeepBuf: 1 << 20}
			next := make([]int, producers) // how many frames of each producer came
			for range producers * rounds * len(sizes) {
				in.SetReadDeadline(time.Now().Add(10 * time.Second))
				got, err := fr.Next()
				if err != nil {
					t.Fatal(err)
				}
				who := int(got[len(got)-1] - 'a')
				if who < 0 || who >= producers {
					t.Fatalf("frame %.20q from no producer", got)
				}
				r, i := next[who]/len(sizes), next[who]%len(sizes)
				next[who]++
				if want := frame(who, r, i); !bytes.Equal(got, want) {
					t.Fatalf("producer %d, round %d, frame %d: got %d bytes %.20q, want %d bytes %.20q", who, r, i, len(got), got, len(want), want)
				}
			}
			s.close(nil)
		})
	}
}
