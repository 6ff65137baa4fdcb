// gobgp-inject adds N IPv4 /32 routes to a running gobgpd's global RIB over
// its gRPC API with one AddPathStream call (as embedding agents such as
// kube-router feed GoBGP), so the benchmark measures gobgpd, not the gobgp
// CLI's one-call-per-route.
//
//	gobgp-inject -api 127.0.0.1:50051 -first 10.200.0.0 -count 100000 -nexthop 10.99.0.1
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

func main() {
	addr := flag.String("api", "127.0.0.1:50051", "gobgpd gRPC address")
	first := flag.String("first", "10.200.0.0", "first /32 (the others follow it)")
	count := flag.Int("count", 100000, "number of /32 routes")
	nexthop := flag.String("nexthop", "", "NEXT_HOP of the routes")
	batch := flag.Int("batch", 1000, "paths per stream message")
	flag.Parse()
	start, err := netip.ParseAddr(*first)
	if err != nil || !start.Is4() {
		log.Fatalf("-first %q: not an IPv4 address", *first)
	}
	if _, err := netip.ParseAddr(*nexthop); err != nil {
		log.Fatalf("-nexthop %q: not an IP address", *nexthop)
	}
	conn, err := grpc.Dial(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("connect to %s: %v", *addr, err)
	}
	defer conn.Close()
	client := api.NewGobgpApiClient(conn)
	ctx := context.Background()

	// Wait until gobgpd answers (it was just started).
	for {
		c, cancel := context.WithTimeout(ctx, time.Second)
		_, err := client.GetBgp(c, &api.GetBgpRequest{})
		cancel()
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: *nexthop})
	family := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	stream, err := client.AddPathStream(ctx)
	if err != nil {
		log.Fatalf("AddPathStream: %v", err)
	}
	base := binary.BigEndian.Uint32(start.AsSlice())
	began := time.Now()
	paths := make([]*api.Path, 0, *batch)
	for i := 0; i < *count; i++ {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+uint32(i))
		nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: netip.AddrFrom4(b).String(), PrefixLen: 32})
		paths = append(paths, &api.Path{Family: family, Nlri: nlri, Pattrs: []*anypb.Any{origin, nh}})
		if len(paths) == *batch || i == *count-1 {
			if err := stream.Send(&api.AddPathStreamRequest{TableType: api.TableType_GLOBAL, Paths: paths}); err != nil {
				log.Fatalf("AddPathStream send: %v", err)
			}
			paths = make([]*api.Path, 0, *batch)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		log.Fatalf("AddPathStream close: %v", err)
	}
	fmt.Fprintf(os.Stderr, "gobgp-inject: %d paths added in %.3fs\n", *count, time.Since(began).Seconds())
}
