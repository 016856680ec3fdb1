// xl's command table, second half (see cmdhelp-a.ts).
import type { CmdHelp } from './cmdtable.js';

export const XL_COMMANDS_B: readonly CmdHelp[] = [
  {
    name: 'network-detach',
    modifies: true,
    desc: "Destroy a domain's virtual network device",
    usage: '<Domain> <DevId|mac>',
  },
  {
    name: 'channel-list',
    desc: 'List virtual channel devices for a domain',
    usage: '<Domain(s)>',
  },
  {
    name: 'block-attach',
    canDryrun: true,
    modifies: true,
    desc: 'Create a new virtual block device',
    usage: '<Domain> <disk-spec-component(s)>...',
  },
  {
    name: 'block-list',
    desc: 'List virtual block devices for a domain',
    usage: '<Domain(s)>',
  },
  {
    name: 'block-detach',
    modifies: true,
    desc: "Destroy a domain's virtual block device",
    usage: '[option] <Domain> <DevId>',
    option: '-f, --force        do not wait for the domain to release the device',
  },
  {
    name: 'vtpm-attach',
    canDryrun: true,
    modifies: true,
    desc: 'Create a new virtual TPM device',
    usage: '<Domain> [uuid=<uuid>] [backend=<BackDomain>]',
  },
  {
    name: 'vtpm-list',
    desc: 'List virtual TPM devices for a domain',
    usage: '<Domain(s)>',
  },
  {
    name: 'vtpm-detach',
    modifies: true,
    desc: "Destroy a domain's virtual TPM device",
    usage: '<Domain> <DevId|uuid>',
  },
  {
    name: 'vkb-attach',
    canDryrun: true,
    modifies: true,
    desc: 'Create a new virtual keyboard device',
    usage: '<Domain> <vkb-spec-component(s)>...',
  },
  {
    name: 'vkb-list',
    desc: 'List virtual keyboard devices for a domain',
    usage: '<Domain(s)>',
  },
  {
    name: 'vkb-detach',
    modifies: true,
    desc: "Destroy a domain's virtual keyboard device",
    usage: '<Domain> <DevId>',
  },
  {
    name: 'vdispl-attach',
    canDryrun: true,
    modifies: true,
    desc: 'Create a new virtual display device',
    usage: "<Domain> [backend=<BackDomain>] [be-alloc=<BackAlloc>] [connectors='<Connectors>']",
    option:
      "    BackAlloc  - set to 1 to if backend allocates display buffers\n    Connectors - list of connector's description in ID:WxH format,\n                 where: ID - unique connector ID, W - connector width,\n                 H - connector height: connectors='id0:800x600;id1:1024x768'\n",
  },
  {
    name: 'vdispl-list',
    desc: 'List virtual display devices for a domain',
    usage: '<Domain(s)>',
  },
  {
    name: 'vdispl-detach',
    modifies: true,
    desc: "Destroy a domain's virtual display device",
    usage: '<Domain> <DevId>',
  },
  {
    name: 'vsnd-attach',
    canDryrun: true,
    modifies: true,
    desc: 'Create a new virtual sound device',
    usage: '<Domain> <vsnd-spec-component(s)>...',
  },
  {
    name: 'vsnd-list',
    desc: 'List virtual display devices for a domain',
    usage: '<Domain(s)>',
  },
  {
    name: 'vsnd-detach',
    modifies: true,
    desc: "Destroy a domain's virtual sound device",
    usage: '<Domain> <DevId>',
  },
  {
    name: 'uptime',
    desc: 'Print uptime for all/some domains',
    usage: '[-s] [Domain]',
  },
  {
    name: 'claims',
    desc: 'List outstanding claim information about all domains',
    usage: '',
    option: '',
  },
  {
    name: 'cpupool-create',
    canDryrun: true,
    modifies: true,
    desc: 'Create a new CPU pool',
    usage: '[options] [<ConfigFile>] [Variable=value ...]',
    option:
      '-h, --help                   Print this help.\n-f FILE, --defconfig=FILE    Use the given configuration file.\n-n, --dryrun                 Dry run - prints the resulting configuration.\n                              (deprecated in favour of global -N option).\n\nSee the xlcpupool.cfg(5) manpage for more information.',
  },
  {
    name: 'cpupool-list',
    desc: 'List CPU pools on host',
    usage: '[-c|--cpus] [<CPU Pool>]',
    option: '-c, --cpus                     Output list of CPUs used by a pool',
  },
  {
    name: 'cpupool-destroy',
    modifies: true,
    desc: 'Deactivates a CPU pool',
    usage: '<CPU Pool>',
  },
  {
    name: 'cpupool-rename',
    modifies: true,
    desc: 'Renames a CPU pool',
    usage: '<CPU Pool> <new name>',
  },
  {
    name: 'cpupool-cpu-add',
    modifies: true,
    desc: 'Adds a CPU to a CPU pool',
    usage: '<CPU Pool> <CPU nr>|node:<node nr>',
  },
  {
    name: 'cpupool-cpu-remove',
    modifies: true,
    desc: 'Removes a CPU from a CPU pool',
    usage: '<CPU Pool> <CPU nr>|node:<node nr>',
  },
  {
    name: 'cpupool-migrate',
    modifies: true,
    desc: 'Moves a domain into a CPU pool',
    usage: '<Domain> <CPU Pool>',
  },
  {
    name: 'cpupool-numa-split',
    modifies: true,
    desc: 'Splits up the machine into one CPU pool per NUMA node',
    usage: '',
  },
  {
    name: 'getenforce',
    desc: 'Returns the current enforcing mode of the Flask Xen security module',
    usage: '',
  },
  {
    name: 'setenforce',
    modifies: true,
    desc: 'Sets the current enforcing mode of the Flask Xen security module',
    usage: '<1|0|Enforcing|Permissive>',
  },
  {
    name: 'loadpolicy',
    modifies: true,
    desc: 'Loads a new policy into the Flask Xen security module',
    usage: '<policy file>',
  },
  {
    name: 'remus',
    modifies: true,
    desc: 'Enable Remus HA for domain',
    usage: '[options] <Domain> [<host>]',
    option:
      '-i MS                   Checkpoint domain memory every MS milliseconds (def. 200ms).\n-u                      Disable memory checkpoint compression.\n-s <sshcommand>         Use <sshcommand> instead of ssh.  String will be passed\n                        to sh. If empty, run <host> instead of \n                        ssh <host> xl migrate-receive -r [-e]\n-e                      Do not wait in the background (on <host>) for the death\n                        of the domain.\n-N <netbufscript>       Use netbufscript to setup network buffering instead of the\n                        default script (/etc/xen/scripts/remus-netbuf-setup).\n-F                      Enable unsafe configurations [-b|-n|-d flags]. Use this option\n                        with caution as failover may not work as intended.\n-b                      Replicate memory checkpoints to /dev/null (blackhole).\n                        Works only in unsafe mode.\n-n                      Disable network output buffering. Works only in unsafe mode.\n-d                      Disable disk replication. Works only in unsafe mode.\n-c                      Enable COLO HA. It is conflict with -i and -b, and memory\n                        checkpoint must be disabled.\n-p                      Use COLO userspace proxy.',
  },
  {
    name: 'devd',
    modifies: true,
    desc: 'Daemon that listens for devices and launches backends',
    usage: '[options]',
    option:
      '-F                      Run in the foreground.\n-p, --pidfile [FILE]    Write PID to pidfile when daemonizing.',
  },
  {
    name: 'psr-hwinfo',
    modifies: true,
    desc: 'Show hardware information for Platform Shared Resource',
    usage: '[options]',
    option:
      '-m, --cmt       Show Cache Monitoring Technology (CMT) hardware info\n-a, --cat       Show Cache Allocation Technology (CAT) hardware info\n-b, --mba       Show Memory Bandwidth Allocation (MBA) hardware info\n',
  },
  {
    name: 'psr-cmt-attach',
    modifies: true,
    desc: 'Attach Cache Monitoring Technology service to a domain',
    usage: '<Domain>',
  },
  {
    name: 'psr-cmt-detach',
    modifies: true,
    desc: 'Detach Cache Monitoring Technology service from a domain',
    usage: '<Domain>',
  },
  {
    name: 'psr-cmt-show',
    modifies: true,
    desc: 'Show Cache Monitoring Technology information',
    usage: '<PSR-CMT-Type> <Domain>',
    option:
      'Available monitor types:\n"cache-occupancy":         Show L3 cache occupancy(KB)\n"total-mem-bandwidth":     Show total memory bandwidth(KB/s)\n"local-mem-bandwidth":     Show local memory bandwidth(KB/s)\n',
  },
  {
    name: 'psr-cat-set',
    modifies: true,
    desc: 'Set cache capacity bitmasks(CBM) for a domain',
    usage: '[options] <Domain> <CBM>',
    option:
      '-s <socket>       Specify the socket to process, otherwise all sockets are processed\n-l <level>        Specify the cache level to process, otherwise L3 cache is processed\n-c                Set code CBM if CDP is supported\n-d                Set data CBM if CDP is supported\n',
  },
  {
    name: 'psr-cat-show',
    modifies: true,
    desc: 'Show Cache Allocation Technology information',
    usage: '[options] <Domain>',
    option:
      '-l <level>        Specify the cache level to process, otherwise L3 cache is processed\n',
  },
  {
    name: 'psr-mba-set',
    modifies: true,
    desc: 'Set throttling value (THRTL) for a domain',
    usage: '[options] <Domain> <THRTL>',
    option:
      '-s <socket>       Specify the socket to process, otherwise all sockets are processed\n',
  },
  {
    name: 'psr-mba-show',
    modifies: true,
    desc: 'Show Memory Bandwidth Allocation information',
    usage: '<Domain>',
  },
  {
    name: 'usbctrl-attach',
    modifies: true,
    desc: 'Create a virtual USB controller for a domain',
    usage: '<Domain> [type=pv] [version=<version>] [ports=<number>]',
  },
  {
    name: 'usbctrl-detach',
    modifies: true,
    desc: 'Remove the virtual USB controller specified by <DevId> for a domain',
    usage: '<Domain> <DevId>',
  },
  {
    name: 'usbdev-attach',
    modifies: true,
    desc: 'Attach a USB device to a domain',
    usage: '<Domain> hostbus=<busnum> hostaddr=<devnum> [controller=<DevId> [port=<port>]]',
  },
  {
    name: 'usbdev-detach',
    modifies: true,
    desc: 'Detach a USB device from a domain',
    usage: '<Domain> <controller> <port>',
  },
  {
    name: 'usb-list',
    desc: 'List information about all USB controllers and devices for a domain',
    usage: '<Domain>',
  },
  {
    name: 'qemu-monitor-command',
    modifies: true,
    desc: 'Issue a qemu monitor command to the device model of a domain',
    usage: '<Domain> <Command>',
  },
];
