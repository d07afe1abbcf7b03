// `speech completion bash|zsh|fish`: a completion script made from the command tree itself,
// so it never lists a command or flag the CLI does not have. Completes commands, their flags,
// the values of --formats and --speaker-labels, and files for the rest.
import type { Command } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface CommandSpec {
  name: string;
  description: string;
  flags: string[];
}

function specs(program: Command): CommandSpec[] {
  return program.commands
    .filter((c) => c.name() !== 'help')
    .map((c) => ({
      name: c.name(),
      description: c.description().split('\n')[0] ?? '',
      flags: [...c.options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f))), '--help'],
    }));
}

const VALUES: Record<string, string> = {
  '--formats': 'json srt vtt txt md rttm docx',
  '--speaker-labels': 'none prefix voice',
  '--status': 'running completed failed cancelled',
};

function bash(cmds: CommandSpec[]): string {
  const cases = cmds.map((c) => `    ${c.name}) opts="${c.flags.join(' ')}" ;;`).join('\n');
  const values = Object.entries(VALUES)
    .map(([flag, v]) => `    ${flag}) COMPREPLY=( $(compgen -W "${v}" -- "$cur") ); return ;;`)
    .join('\n');
  return `# bash completion for speech: source it, or put it in /etc/bash_completion.d/speech
_speech() {
  local cur prev cmd opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${cmds.map((c) => c.name).join(' ')} --help --version" -- "$cur") )
    return
  fi
  case "$prev" in
${values}
  esac
  cmd="\${COMP_WORDS[1]}"
  case "$cmd" in
${cases}
    *) opts="" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -o filenames -F _speech speech
`;
}

function zsh(cmds: CommandSpec[]): string {
  const list = cmds.map((c) => `    '${c.name}:${c.description.replace(/'/g, "'\\''").replace(/:/g, '\\:')}'`).join('\n');
  const cases = cmds.map((c) => `      ${c.name}) _arguments '*:file:_files' ${c.flags.map((f) => `'${f}[${f}]${VALUES[f] ? `:value:(${VALUES[f]})` : ''}'`).join(' ')} ;;`).join('\n');
  return `#compdef speech
# zsh completion for speech: put it on $fpath as _speech, or: source <(speech completion zsh)
_speech() {
  local -a commands
  commands=(
${list}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case "\${words[2]}" in
${cases}
  esac
}
compdef _speech speech
`;
}

function fish(cmds: CommandSpec[]): string {
  const lines = ['# fish completion for speech: save as ~/.config/fish/completions/speech.fish', 'complete -c speech -f'];
  for (const c of cmds) lines.push(`complete -c speech -n '__fish_use_subcommand' -a '${c.name}' -d '${c.description.replace(/'/g, "\\'")}'`);
  for (const c of cmds) {
    for (const f of c.flags.filter((x) => x.startsWith('--'))) {
      const values = VALUES[f] ? ` -x -a '${VALUES[f]}'` : '';
      lines.push(`complete -c speech -n '__fish_seen_subcommand_from ${c.name}' -l '${f.slice(2)}'${values}`);
    }
    lines.push(`complete -c speech -n '__fish_seen_subcommand_from ${c.name}' -F`);
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(program: Command, shell: Shell): string {
  const cmds = specs(program);
  return shell === 'bash' ? bash(cmds) : shell === 'zsh' ? zsh(cmds) : fish(cmds);
}
