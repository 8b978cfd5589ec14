package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/device-agent/internal/hw"
	"github.com/hilsearch/hilsearch/kernels"
)

// liveEnv is the hardware environment of the running agent, with the kernel
// variant of the linked kernels package.
func liveEnv() hw.Env { return hw.LiveEnv(kernels.Variant) }

// localProfile profiles the machine the agent runs on (for enroll and run).
func localProfile(ctx context.Context) (hw.Profile, error) {
	return hw.Collect(ctx, liveEnv())
}

// deviceProfile is the profile an agent sends at enrollment: the hardware
// profile and the measurement runtimes it offers besides the native one
// (field "runtimes", read by the coordinator with wire.ProfileRuntimes).
type deviceProfile struct {
	hw.Profile
	Runtimes []wire.RuntimeInfo `json:"runtimes,omitempty"`
}

// withRuntimes adds the runtimes this device offers to p (llamaBench as
// for llamaBenchPath); what could not be used becomes a note.
func withRuntimes(ctx context.Context, p hw.Profile, llamaBench string) deviceProfile {
	rts, notes := discoverRuntimes(ctx, llamaBench)
	p.Notes = append(p.Notes, notes...)
	return deviceProfile{Profile: p, Runtimes: rts}
}

// runProfile implements `device-agent profile [--json]`.
func runProfile(ctx context.Context, args []string, st IO) error {
	return profileCommand(ctx, args, st, liveEnv())
}

// profileCommand runs the profile command against env (tests pass recorded
// trees).
func profileCommand(ctx context.Context, args []string, st IO, env hw.Env) error {
	fl := flag.NewFlagSet("profile", flag.ContinueOnError)
	fl.SetOutput(st.Stderr)
	asJSON := fl.Bool("json", false, "print the profile as one JSON object")
	llamaBench := fl.String("llama-bench", "", "llama.cpp's llama-bench executable to report. Defaults to $"+envLlamaBench+", then llama-bench on PATH")
	fl.Usage = func() {
		fmt.Fprintln(st.Stderr, "usage: device-agent profile [--json]\n\nPrints the hardware profile of this device.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(st.Stderr, "device-agent profile: unexpected argument %q\n", fl.Arg(0))
		return errUsage
	}
	hp, err := hw.Collect(ctx, env)
	if err != nil {
		return fmt.Errorf("collect profile: %w", err)
	}
	p := withRuntimes(ctx, hp, *llamaBench)
	if *asJSON {
		enc := json.NewEncoder(st.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	return writeProfileText(st.Stdout, &p)
}

// writeProfileText prints p for people.
func writeProfileText(w io.Writer, p *deviceProfile) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	row("os", "%s/%s %s", p.OS, p.Arch, p.Platform)
	row("kernel", "%s", p.KernelVersion)
	row("hostname", "%s", p.Hostname)
	if p.Machine != nil {
		row("machine", "%s", strings.TrimSpace(strings.Join([]string{p.Machine.Vendor, p.Machine.Model, p.Machine.Name}, " ")))
	}
	row("cpu", "%s (%s)", p.CPU.Model, p.CPU.Vendor)
	row("cores", "%d logical, %d physical, allowed %s", p.CPU.LogicalCores, p.CPU.PhysicalCores, orDash(p.CPU.AllowedCPUs))
	if p.SoC != nil {
		row("soc", "%s %s (%s, %s) from %s", p.SoC.Manufacturer, p.SoC.Model, orDash(p.SoC.Name), orDash(p.SoC.Codename), p.SoC.Source)
	}
	for i, c := range p.CPU.Clusters {
		desc := fmt.Sprintf("cpus %s: %d", c.CPUs, c.Count)
		if c.Uarch != "" {
			desc += " x " + c.Uarch
		} else if c.Part != "" {
			desc += " x part " + c.Part
		}
		if c.MaxFreqKHz > 0 {
			desc += fmt.Sprintf(", max %d MHz", c.MaxFreqKHz/1000)
		}
		if c.Capacity > 0 {
			desc += fmt.Sprintf(", capacity %d", c.Capacity)
		}
		if c.Governor != "" {
			desc += ", governor " + c.Governor
		}
		row(fmt.Sprintf("cluster %d", i), "%s", desc)
	}
	row("memory", "%.1f GiB total, %.1f GiB available (bucket %s)",
		float64(p.Memory.TotalBytes)/(1<<30), float64(p.Memory.AvailableBytes)/(1<<30), p.Memory.Bucket)
	row("features", "%s (from %s)", strings.Join(p.CPU.Features, " "), p.CPU.FeaturesSource)
	row("kernels", "variant %s, ISA level %s", p.KernelVariant, p.ISALevel)
	if len(p.Thermal) == 0 {
		row("thermal", "no readable sensor")
	}
	for _, s := range p.Thermal {
		row("thermal", "%s %.1f °C (%s)", s.Name, s.TempC, s.Source)
	}
	if p.Power.Source != "" {
		row("power", "%s (from %s)", p.Power.State, p.Power.Source)
	} else {
		row("power", "%s (no power supply information)", p.Power.State)
	}
	row("runtimes", "native (kernels %s)", p.KernelVariant)
	for _, r := range p.Runtimes {
		row("runtimes", "%s: %s, %s, backends %s", r.Name, r.Path, r.Version, orDash(r.Backends))
	}
	row("class", "%s", p.Class)
	row("fingerprint", "%s", p.Fingerprint.Hash)
	for _, n := range p.Notes {
		row("note", "%s", n)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
