package hw

import (
	"regexp"
	"strings"
)

// parseGetprop parses the output of getprop without arguments: one
// "[name]: [value]" line per property.
func parseGetprop(out string) map[string]string {
	props := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[") {
			continue
		}
		name, rest, ok := strings.Cut(line[1:], "]: [")
		if !ok || !strings.HasSuffix(rest, "]") {
			continue
		}
		props[name] = strings.TrimSuffix(rest, "]")
	}
	return props
}

// socInfo is what the table knows of one SoC.
type socInfo struct{ model, name string }

// socByModel maps SoC part numbers (upper case, as getprop ro.soc.model,
// /sys/devices/soc0/machine or the device tree name them) to marketing
// names. Qualcomm reports "SM8650", MediaTek "MT6989", Samsung "S5E9945"
// (as "s5e9945").
var socByModel = map[string]string{
	// Qualcomm Snapdragon 8 series.
	"SM8850": "Snapdragon 8 Elite Gen 5",
	"SM8750": "Snapdragon 8 Elite",
	"SM8735": "Snapdragon 8s Gen 4",
	"SM8650": "Snapdragon 8 Gen 3",
	"SM8635": "Snapdragon 8s Gen 3",
	"SM8550": "Snapdragon 8 Gen 2",
	"SM8475": "Snapdragon 8+ Gen 1",
	"SM8450": "Snapdragon 8 Gen 1",
	"SM8350": "Snapdragon 888",
	"SM8250": "Snapdragon 865",
	"SM8150": "Snapdragon 855",
	"SDM845": "Snapdragon 845",
	// Qualcomm Snapdragon 7 series.
	"SM7750": "Snapdragon 7 Gen 4",
	"SM7675": "Snapdragon 7+ Gen 3",
	"SM7635": "Snapdragon 7s Gen 3",
	"SM7550": "Snapdragon 7 Gen 3",
	"SM7475": "Snapdragon 7+ Gen 2",
	"SM7450": "Snapdragon 7 Gen 1",
	"SM7435": "Snapdragon 7s Gen 2",
	// MediaTek Dimensity.
	"MT6993": "Dimensity 9500",
	"MT6991": "Dimensity 9400",
	"MT6989": "Dimensity 9300",
	"MT6985": "Dimensity 9200",
	"MT6983": "Dimensity 9000",
	"MT6897": "Dimensity 8300",
	"MT6896": "Dimensity 8200",
	"MT6895": "Dimensity 8000/8100",
	"MT6878": "Dimensity 7300",
	// Samsung Exynos.
	"S5E9955": "Exynos 2500",
	"S5E9945": "Exynos 2400",
	"S5E9925": "Exynos 2200",
	"S5E8845": "Exynos 1480",
	"S5E8835": "Exynos 1380",
	"S5E8825": "Exynos 1280",
	// Google Tensor parts that report a part number.
	"GS101": "Google Tensor",
	"GS201": "Google Tensor G2",
}

// socByCodename maps ro.board.platform (or ro.hardware.chipname) codenames
// to the SoC. Google Tensor chips have no public part number; their
// codename stands in for it. Codenames shared by several parts (Qualcomm's
// "cliffs" is SM8635 and SM7675, "parrot" SM7435 and SM6450; "canoe" and
// "tuna" cover more than one part too) are left out: ro.soc.model or soc0
// names those.
var socByCodename = map[string]socInfo{
	"sun":        {"SM8750", "Snapdragon 8 Elite"},
	"pineapple":  {"SM8650", "Snapdragon 8 Gen 3"},
	"kalama":     {"SM8550", "Snapdragon 8 Gen 2"},
	"cape":       {"SM8475", "Snapdragon 8+ Gen 1"},
	"taro":       {"SM8450", "Snapdragon 8 Gen 1"},
	"lahaina":    {"SM8350", "Snapdragon 888"},
	"kona":       {"SM8250", "Snapdragon 865"},
	"msmnile":    {"SM8150", "Snapdragon 855"},
	"sdm845":     {"SDM845", "Snapdragon 845"},
	"crow":       {"SM7550", "Snapdragon 7 Gen 3"},
	"ukee":       {"SM7475", "Snapdragon 7+ Gen 2"},
	"diwali":     {"SM7450", "Snapdragon 7 Gen 1"},
	"mt6993":     {"MT6993", "Dimensity 9500"},
	"mt6991":     {"MT6991", "Dimensity 9400"},
	"mt6989":     {"MT6989", "Dimensity 9300"},
	"mt6985":     {"MT6985", "Dimensity 9200"},
	"mt6983":     {"MT6983", "Dimensity 9000"},
	"mt6897":     {"MT6897", "Dimensity 8300"},
	"mt6896":     {"MT6896", "Dimensity 8200"},
	"mt6895":     {"MT6895", "Dimensity 8000/8100"},
	"mt6878":     {"MT6878", "Dimensity 7300"},
	"s5e9955":    {"S5E9955", "Exynos 2500"},
	"s5e9945":    {"S5E9945", "Exynos 2400"},
	"s5e9925":    {"S5E9925", "Exynos 2200"},
	"exynos2100": {"", "Exynos 2100"},
	"s5e8845":    {"S5E8845", "Exynos 1480"},
	"s5e8835":    {"S5E8835", "Exynos 1380"},
	"s5e8825":    {"S5E8825", "Exynos 1280"},
	"gs101":      {"", "Google Tensor"},
	"gs201":      {"", "Google Tensor G2"},
	"zuma":       {"", "Google Tensor G3"},
	"zumapro":    {"", "Google Tensor G4"},
	"laguna":     {"", "Google Tensor G5"},
}

// socPartRE finds a SoC part number in free text such as the cpuinfo
// Hardware line ("Qualcomm Technologies, Inc SM8150").
var socPartRE = regexp.MustCompile(`\b(SM|SDM|MSM|APQ|QCS|QCM|SC|MT|RK|BCM)[0-9]{3,5}[A-Z]?\b`)

// detectSoC identifies the SoC with the probes of go-ecosystem.md §4.3, in
// order: getprop ro.soc.model, the socinfo driver, the platform codename,
// the cpuinfo Hardware line, the device-tree compatible string. Later probes
// fill fields the first hit left empty. It returns nil when nothing is known.
func detectSoC(f files, props map[string]string, ci cpuInfo) *SoC {
	s := &SoC{}
	setModel := func(model, source string) {
		if s.Model == "" && model != "" {
			s.Model, s.Source = model, source
		}
	}
	setModel(props["ro.soc.model"], "getprop ro.soc.model")
	if s.Model != "" {
		s.Manufacturer = props["ro.soc.manufacturer"]
	}

	setModel(f.str("sys/devices/soc0/machine"), "/sys/devices/soc0/machine")
	s.Family = f.str("sys/devices/soc0/family")
	s.SocID = f.str("sys/devices/soc0/soc_id")
	if s.Manufacturer == "" && s.Source == "/sys/devices/soc0/machine" {
		s.Manufacturer = f.str("sys/devices/soc0/vendor")
	}

	codename := props["ro.board.platform"]
	if codename == "" {
		codename = props["ro.hardware.chipname"]
	}
	if codename != "" {
		s.Codename = codename
		if info, ok := socByCodename[strings.ToLower(codename)]; ok {
			setModel(info.model, "getprop ro.board.platform")
			if s.Name == "" {
				s.Name = info.name
			}
			if s.Source == "" {
				s.Source = "getprop ro.board.platform"
			}
		}
	}

	if hw := ci.global["Hardware"]; hw != "" {
		if m := socPartRE.FindString(hw); m != "" {
			setModel(m, "/proc/cpuinfo Hardware")
		} else if s.Name == "" && s.Model == "" {
			s.Name, s.Source = hw, "/proc/cpuinfo Hardware"
		}
	}

	if compat, err := f.read("proc/device-tree/compatible"); err == nil && compat != "" {
		// NUL-separated, most specific first; the SoC is the last entry,
		// e.g. "qcom,sm8650" or "rockchip,rk3588".
		entries := strings.FieldsFunc(compat, func(r rune) bool { return r == 0 })
		if len(entries) > 0 {
			vendor, chip, ok := strings.Cut(entries[len(entries)-1], ",")
			if ok && chip != "" {
				setModel(strings.ToUpper(chip), "/proc/device-tree/compatible")
				if s.Manufacturer == "" && s.Source == "/proc/device-tree/compatible" {
					s.Manufacturer = vendor
				}
			}
		}
	}

	if s.Model == "" && s.Name == "" {
		return nil
	}
	if s.Name == "" {
		s.Name = socByModel[strings.ToUpper(s.Model)]
	}
	return s
}

// armImplementer names Arm "CPU implementer" codes.
var armImplementer = map[string]string{
	"0x41": "ARM", "0x42": "Broadcom", "0x43": "Cavium", "0x48": "HiSilicon",
	"0x4e": "NVIDIA", "0x51": "Qualcomm", "0x53": "Samsung", "0x61": "Apple", "0xc0": "Ampere",
}

// armPart names "CPU part" codes of implementer 0x41 (Arm Ltd) and a few
// others, as "<implementer>:<part>".
var armPart = map[string]string{
	"0x41:0xd03": "Cortex-A53", "0x41:0xd04": "Cortex-A35", "0x41:0xd05": "Cortex-A55",
	"0x41:0xd07": "Cortex-A57", "0x41:0xd08": "Cortex-A72", "0x41:0xd09": "Cortex-A73",
	"0x41:0xd0a": "Cortex-A75", "0x41:0xd0b": "Cortex-A76", "0x41:0xd0c": "Neoverse-N1",
	"0x41:0xd0d": "Cortex-A77", "0x41:0xd40": "Neoverse-V1", "0x41:0xd41": "Cortex-A78",
	"0x41:0xd44": "Cortex-X1", "0x41:0xd46": "Cortex-A510", "0x41:0xd47": "Cortex-A710",
	"0x41:0xd48": "Cortex-X2", "0x41:0xd49": "Neoverse-N2", "0x41:0xd4d": "Cortex-A715",
	"0x41:0xd4e": "Cortex-X3", "0x41:0xd4f": "Neoverse-V2", "0x41:0xd80": "Cortex-A520",
	"0x41:0xd81": "Cortex-A720", "0x41:0xd82": "Cortex-X4", "0x41:0xd84": "Neoverse-V3",
	"0x41:0xd85": "Cortex-X925", "0x41:0xd87": "Cortex-A725",
	"0x51:0x001": "Oryon",
}

// partKey normalises implementer and part to "0x41:0xd82" form.
func partKey(impl, part string) string {
	if impl == "" && part == "" {
		return ""
	}
	return strings.ToLower(impl) + ":" + strings.ToLower(part)
}
