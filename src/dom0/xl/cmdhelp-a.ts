// xl's command table, first half: name, flags and help texts as tools/xl/xl_cmdtable.c in Xen
// 4.17 has them (x86, with save/restore), in its order, which `xl help` and prefix lookup follow.
import type { CmdHelp } from './cmdtable.js';

export const XL_COMMANDS_A: readonly CmdHelp[] = [
  {
    name: 'create',
    canDryrun: true,
    modifies: true,
    desc: 'Create a domain from config file <filename>',
    usage: '<ConfigFile> [options] [vars]',
    option:
      '-c                      Connect to the console after the domain is created.\n-d                      Enable debug messages.\n-e                      Do not wait in the background for the death of the domain.\n-F                      Run in foreground until death of the domain.\n-f FILE, --defconfig=FILE\n                     Use the given configuration file.\n-h                      Print this help.\n-n, --dryrun            Dry run - prints the resulting configuration\n                         (deprecated in favour of global -N option).\n-p                      Leave the domain paused after it is created.\n-q, --quiet             Quiet.\n-V, --vncviewer         Connect to the VNC display after the domain is created.\n-A, --vncviewer-autopass\n                        Pass VNC password to viewer via stdin.\n--ignore-global-affinity-masks Ignore global masks in xl.conf.',
  },
  {
    name: 'config-update',
    canDryrun: true,
    modifies: true,
    desc: "Update a running domain's saved configuration, used when rebuilding the domain after reboot.\nWARNING: xl now has better capability to manage domain configuration, avoid using this command when possible",
    usage: '<Domain> <ConfigFile> [options] [vars]',
    option:
      '-h                      Print this help.\n-f FILE, --defconfig=FILE\n                     Use the given configuration file.\n-d                      Enable debug messages.\n',
  },
  {
    name: 'list',
    desc: 'List information about all/some domains',
    usage: '[options] [Domain]\n',
    option:
      '-l, --long              Output all VM details\n-v, --verbose           Prints out UUIDs and security context\n-Z, --context           Prints out security context\n-c, --cpupool           Prints the cpupool the domain is in\n-n, --numa              Prints out NUMA node affinity',
  },
  {
    name: 'destroy',
    modifies: true,
    desc: 'Terminate a domain immediately',
    usage: '[options] <Domain>\n',
    option:
      '-f                      Permit destroying domain 0, which will only succeed\n                        when run from disaggregated toolstack domain with a\n                        hardware domain distinct from domain 0.',
  },
  {
    name: 'shutdown',
    modifies: true,
    desc: 'Issue a shutdown signal to a domain',
    usage: '[options] <-a|Domain>',
    option:
      '-a, --all               Shutdown all guest domains.\n-h                      Print this help.\n-F                      Fallback to ACPI power event for HVM guests with\n                        no PV drivers.\n-w, --wait              Wait for guest(s) to shutdown.\n',
  },
  {
    name: 'reboot',
    modifies: true,
    desc: 'Issue a reboot signal to a domain',
    usage: '[options] <-a|Domain>',
    option:
      '-a, --all               Shutdown all guest domains.\n-h                      Print this help.\n-F                      Fallback to ACPI reset event for HVM guests with\n                        no PV drivers.\n-w, --wait              Wait for guest(s) to reboot.\n',
  },
  {
    name: 'pci-attach',
    modifies: true,
    desc: 'Insert a new pass-through pci device',
    usage: '<Domain> <PCI_SPEC_STRING>',
  },
  {
    name: 'pci-detach',
    modifies: true,
    desc: "Remove a domain's pass-through pci device",
    usage: '<Domain> <PCI_SPEC_STRING>',
  },
  {
    name: 'pci-list',
    desc: 'List pass-through pci devices for a domain',
    usage: '<Domain>',
  },
  {
    name: 'pci-assignable-add',
    modifies: true,
    desc: 'Make a device assignable for pci-passthru',
    usage: '[options] <BDF>',
    option:
      '-n NAME, --name=NAME    Name the assignable device.\n-h                      Print this help.\n',
  },
  {
    name: 'pci-assignable-remove',
    modifies: true,
    desc: 'Remove a device from being assignable',
    usage: '[options] <BDF>|NAME',
    option:
      '-h                      Print this help.\n-r                      Attempt to re-assign the device to the\n                        original driver.',
  },
  {
    name: 'pci-assignable-list',
    desc: 'List all the assignable pci devices',
    usage: '[options]',
    option:
      '-h                      Print this help.\n-n, --show-names        Display assignable device names where\n                        supplied.\n',
  },
  {
    name: 'pause',
    modifies: true,
    desc: 'Pause execution of a domain',
    usage: '<Domain>',
  },
  {
    name: 'unpause',
    modifies: true,
    desc: 'Unpause a paused domain',
    usage: '<Domain>',
  },
  {
    name: 'console',
    desc: "Attach to domain's console",
    usage:
      '[options] <Domain>\n-t <type>       console type, pv , serial or vuart\n-n <number>     console number',
  },
  {
    name: 'vncviewer',
    desc: "Attach to domain's VNC server.",
    usage:
      '[options] <Domain>\n--autopass               Pass VNC password to viewer via stdin and\n                         -autopass\n--vncviewer-autopass     (consistency alias for --autopass)',
  },
  {
    name: 'save',
    modifies: true,
    desc: 'Save a domain state to restore later',
    usage: '[options] <Domain> <CheckpointFile> [<ConfigFile>]',
    option:
      '-h  Print this help.\n-c  Leave domain running after creating the snapshot.\n-p  Leave domain paused after creating the snapshot.\n-D  Store the domain id in the configuration.',
  },
  {
    name: 'migrate',
    modifies: true,
    desc: 'Migrate a domain to another host',
    usage: '[options] <Domain> <host>',
    option:
      '-h              Print this help.\n-C <config>     Send <config> instead of config file from creation.\n-s <sshcommand> Use <sshcommand> instead of ssh.  String will be passed\n                to sh. If empty, run <host> instead of ssh <host> xl\n                migrate-receive [-d -e]\n-e              Do not wait in the background (on <host>) for the death\n                of the domain.\n--debug         Print huge (!) amount of debug during the migration process.\n-p              Do not unpause domain after migrating it.\n-D              Preserve the domain id',
  },
  {
    name: 'restore',
    modifies: true,
    desc: 'Restore a domain from a saved state',
    usage: '[options] [<ConfigFile>] <CheckpointFile>',
    option:
      '-h                       Print this help.\n-p                       Do not unpause domain after restoring it.\n-e                       Do not wait in the background for the death of the domain.\n-d                       Enable debug messages.\n-V, --vncviewer          Connect to the VNC display after the domain is created.\n-A, --vncviewer-autopass Pass VNC password to viewer via stdin.',
  },
  {
    name: 'migrate-receive',
    modifies: true,
    desc: 'Restore a domain from a saved state',
    usage: '- for internal use only',
  },
  {
    name: 'dump-core',
    modifies: true,
    desc: 'Core dump a domain',
    usage: '<Domain> <filename>',
  },
  {
    name: 'cd-insert',
    canDryrun: true,
    modifies: true,
    desc: "Insert a cdrom into a guest's cd drive",
    usage: '<Domain> <VirtualDevice> <path>',
  },
  {
    name: 'cd-eject',
    canDryrun: true,
    modifies: true,
    desc: "Eject a cdrom from a guest's cd drive",
    usage: '<Domain> <VirtualDevice>',
  },
  {
    name: 'mem-max',
    modifies: true,
    desc: 'Set the maximum amount reservation for a domain',
    usage: "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>",
  },
  {
    name: 'mem-set',
    modifies: true,
    desc: 'Set the current memory usage for a domain',
    usage: "<Domain> <MemMB['b'[bytes]|'k'[KB]|'m'[MB]|'g'[GB]|'t'[TB]]>",
  },
  {
    name: 'button-press',
    modifies: true,
    desc: 'Indicate an ACPI button press to the domain',
    usage: '<Domain> <Button>',
    option: "<Button> may be 'power' or 'sleep'.",
  },
  {
    name: 'vcpu-list',
    desc: 'List the VCPUs for all/some domains',
    usage: '[Domain, ...]',
  },
  {
    name: 'vcpu-pin',
    canDryrun: true,
    modifies: true,
    desc: 'Set which CPUs a VCPU can use',
    usage: '[option] <Domain> <VCPU|all> <Hard affinity|-|all> <Soft affinity|-|all>',
    option:
      '-f, --force        undo an override pinning done by the kernel\n--ignore-global-affinity-masks Ignore global masks in xl.conf',
  },
  {
    name: 'vcpu-set',
    modifies: true,
    desc: 'Set the number of active VCPUs allowed for the domain',
    usage: '[option] <Domain> <vCPUs>',
    option: "-i, --ignore-host  Don't limit the vCPU based on the host CPU count",
  },
  {
    name: 'vm-list',
    desc: 'List guest domains, excluding dom0, stubdoms, etc.',
    usage: '',
  },
  {
    name: 'info',
    desc: 'Get information about Xen host',
    usage: '-n, --numa         List host NUMA topology information',
  },
  {
    name: 'sharing',
    desc: 'Get information about page sharing',
    usage: '[Domain]',
  },
  {
    name: 'sched-credit',
    modifies: true,
    desc: 'Get/set credit scheduler parameters',
    usage: '[-d <Domain> [-w[=WEIGHT]|-c[=CAP]]] [-s [-t TSLICE] [-r RATELIMIT]] [-p CPUPOOL]',
    option:
      '-d DOMAIN, --domain=DOMAIN        Domain to modify\n-w WEIGHT, --weight=WEIGHT        Weight (int)\n-c CAP, --cap=CAP                 Cap (int)\n-s         --schedparam           Query / modify scheduler parameters\n-t TSLICE, --tslice_ms=TSLICE     Set the timeslice, in milliseconds\n-r RLIMIT, --ratelimit_us=RLIMIT  Set the scheduling rate limit, in microseconds\n-m DLY, --migration_delay_us=DLY  Set the migration delay, in microseconds\n-p CPUPOOL, --cpupool=CPUPOOL     Restrict output to CPUPOOL',
  },
  {
    name: 'sched-credit2',
    modifies: true,
    desc: 'Get/set credit2 scheduler parameters',
    usage: '[-d <Domain> [-w[=WEIGHT]]] [-p CPUPOOL]',
    option:
      '-d DOMAIN, --domain=DOMAIN     Domain to modify\n-w WEIGHT, --weight=WEIGHT     Weight (int)\n-c CAP,    --cap=CAP           Cap (int)\n-s         --schedparam        Query / modify scheduler parameters\n-r RLIMIT, --ratelimit_us=RLIMIT Set the scheduling rate limit, in microseconds\n-p CPUPOOL, --cpupool=CPUPOOL  Restrict output to CPUPOOL',
  },
  {
    name: 'sched-rtds',
    modifies: true,
    desc: 'Get/set rtds scheduler parameters',
    usage: '[-d <Domain> [-v[=VCPUID/all]] [-p[=PERIOD]] [-b[=BUDGET]] [-e[=Extratime]]]',
    option:
      "-d DOMAIN, --domain=DOMAIN     Domain to modify\n-v VCPUID/all, --vcpuid=VCPUID/all    VCPU to modify or output;\n               Using '-v all' to modify/output all vcpus\n-p PERIOD, --period=PERIOD     Period (us)\n-b BUDGET, --budget=BUDGET     Budget (us)\n-e Extratime, --extratime=Extratime Extratime (1=yes, 0=no)\n",
  },
  {
    name: 'domid',
    desc: 'Convert a domain name to domain id',
    usage: '<DomainName>',
  },
  {
    name: 'domname',
    desc: 'Convert a domain id to domain name',
    usage: '<DomainId>',
  },
  {
    name: 'rename',
    modifies: true,
    desc: 'Rename a domain',
    usage: '<Domain> <NewDomainName>',
  },
  {
    name: 'trigger',
    modifies: true,
    desc: 'Send a trigger to a domain',
    usage: '<Domain> <nmi|reset|init|power|sleep|s3resume> [<VCPU>]',
  },
  {
    name: 'sysrq',
    modifies: true,
    desc: 'Send a sysrq to a domain',
    usage: '<Domain> <letter>',
  },
  {
    name: 'debug-keys',
    modifies: true,
    desc: 'Send debug keys to Xen',
    usage: '<Keys>',
  },
  {
    name: 'set-parameters',
    modifies: true,
    desc: 'Set hypervisor parameters',
    usage: '<Params>',
  },
  {
    name: 'dmesg',
    desc: 'Read and/or clear dmesg buffer',
    usage: '[-c]',
    option: '  -c                        Clear dmesg buffer as well as printing it',
  },
  {
    name: 'top',
    desc: 'Monitor a host and the domains in real time',
    usage: '',
  },
  {
    name: 'network-attach',
    canDryrun: true,
    modifies: true,
    desc: 'Create a new virtual network device',
    usage:
      '<Domain> [type=<type>] [mac=<mac>] [bridge=<bridge>] [ip=<ip>] [script=<script>] [backend=<BackDomain>] [vifname=<name>] [rate=<rate>] [model=<model>] [accel=<accel>] [mtu=<mtu>]',
  },
  {
    name: 'network-list',
    desc: 'List virtual network interfaces for a domain',
    usage: '<Domain(s)>',
  },
];
