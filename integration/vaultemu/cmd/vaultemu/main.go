package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/phiguard/phiguard/integration/vaultemu"
)

type roles []string

func (r *roles) String() string     { return strings.Join(*r, ",") }
func (r *roles) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:8200", "address to listen on")
	root := flag.String("root-token", "root", "the root token")
	transitKey := flag.String("transit-key", "phiguard", "transit key to create at start (empty: none)")
	cert := flag.String("tls-cert", "", "TLS certificate file (PEM)")
	key := flag.String("tls-key", "", "TLS key file (PEM)")
	var approles roles
	flag.Var(&approles, "approle", "name:role_id:secret_id of an AppRole with full access (repeatable)")
	flag.Parse()

	emu := vaultemu.New(vaultemu.Options{RootToken: *root})
	if *transitKey != "" {
		emu.CreateTransitKey(*transitKey)
	}
	for _, r := range approles {
		p := strings.SplitN(r, ":", 3)
		if len(p) != 3 {
			log.Fatalf("vaultemu: -approle %q: want name:role_id:secret_id", r)
		}
		emu.AddAppRole(p[0], p[1], p[2], time.Hour, "*")
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("vaultemu: %v", err)
	}
	scheme := "http"
	if *cert != "" {
		scheme = "https"
	}
	fmt.Printf("VAULT_ADDR=%s://%s\n", scheme, ln.Addr())
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()
	if *cert != "" {
		err = srv.ServeTLS(ln, *cert, *key)
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("vaultemu: %v", err)
	}
}
