// kube-testbed: one binary holding the three Kubernetes programs the tests need
// (etcd, kube-apiserver, kubectl), so the expensive link happens once.
//
//	kube-testbed etcd [etcd flags]
//	kube-testbed apiserver [kube-apiserver flags]
//	kube-testbed kubectl [kubectl args]
package main

import (
	"fmt"
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kube-testbed etcd|apiserver|kubectl [args...]")
		os.Exit(2)
	}
	program, rest := os.Args[1], os.Args[2:]
	switch program {
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, rest...))
	case "apiserver":
		os.Args = append([]string{"kube-apiserver"}, rest...)
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kubectl":
		os.Args = append([]string{"kubectl"}, rest...)
		os.Exit(cli.Run(kubectl.NewDefaultKubectlCommand()))
	default:
		fmt.Fprintf(os.Stderr, "kube-testbed: unknown program %q\n", program)
		os.Exit(2)
	}
}
