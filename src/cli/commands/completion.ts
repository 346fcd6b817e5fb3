// plexus completion bash|zsh: a completion script generated from the command tree, completing
// instance, NF type and table names by asking the daemon (through a hidden __complete command).
import type { Command } from "commander";
import { seg } from "../../api/client.js";
import type { InstanceJson, NfTypeJson, TableInfoJson } from "../../api/schemas.js";
import { UsageError } from "../errors.js";
import { apiClient, examples } from "./client.js";

const longOptions = (c: Command) => c.options.map((o) => o.long).filter((x): x is string => Boolean(x));

function bashScript(program: Command): string {
  const visible = program.commands.filter((c) => !c.name().startsWith("__"));
  const cases = visible
    .map((c) => {
      const subs = c.commands.map((s) => s.name()).join(" ");
      const opts = [...longOptions(c), ...c.commands.flatMap(longOptions)].join(" ");
      return `    ${c.name()}${c
        .aliases()
        .map((a) => `|${a}`)
        .join("")}) subs="${subs}"; opts="${[...new Set(opts.split(" "))].join(" ")}" ;;`;
    })
    .join("\n");
  return `# plexus bash completion: source <(plexus completion bash)
_plexus() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="\${COMP_WORDS[1]}" subs="" opts="" words=""
  local globals="--socket --url --help"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${visible.map((c) => c.name()).join(" ")} $(plexus __complete instances 2>/dev/null)" -- "$cur") )
    return
  fi
  case "$cmd" in
${cases}
    *) # plexus INSTANCE TABLE ACTION
      if [ "$COMP_CWORD" -eq 2 ]; then words="$(plexus __complete tables "$cmd" 2>/dev/null)"
      elif [ "$COMP_CWORD" -eq 3 ]; then words="show add del"; fi
      COMPREPLY=( $(compgen -W "$words" -- "$cur") ); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts $globals" -- "$cur") ); return
  fi
  if [ "$COMP_CWORD" -eq 2 ] && [ -n "$subs" ]; then
    COMPREPLY=( $(compgen -W "$subs" -- "$cur") ); return
  fi
  case "$cmd" in
    nf) words="$(plexus __complete types 2>/dev/null)" ;;
    apply|obj|prog|vm) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    create) [ "$COMP_CWORD" -eq 2 ] && words="$(plexus __complete types 2>/dev/null)" ;;
    *) words="$(plexus __complete instances 2>/dev/null) $(plexus __complete ports 2>/dev/null)" ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _plexus plexus
`;
}

export function registerCompletionCommands(program: Command): void {
  program
    .command("completion <shell>")
    .description("print a shell completion script (bash or zsh)")
    .addHelpText(
      "after",
      examples([
        "source <(plexus completion bash)          # in ~/.bashrc",
        "source <(plexus completion zsh)           # in ~/.zshrc",
      ]),
    )
    .action((shell: string) => {
      if (shell === "bash") process.stdout.write(bashScript(program));
      else if (shell === "zsh")
        process.stdout.write(
          `# plexus zsh completion (through bash completion)\nautoload -U +X bashcompinit && bashcompinit\n${bashScript(program)}`,
        );
      else throw new UsageError(`completion for bash or zsh, not '${shell}'`);
    });

  program
    .command("__complete <what> [arg]", { hidden: true })
    .description("names for shell completion: instances, ports, types, tables INSTANCE")
    .action(async (what: string, arg: string | undefined, _o, cmd: Command) => {
      const api = apiClient(cmd);
      let words: string[] = [];
      if (what === "instances") words = (await api.get<InstanceJson[]>("/v1/instances")).map((i) => i.name);
      else if (what === "ports")
        words = (await api.get<InstanceJson[]>("/v1/instances")).flatMap((i) =>
          i.ports.map((p) => `${i.name}:${p.name}`),
        );
      else if (what === "types")
        words = [...new Set((await api.get<NfTypeJson[]>("/v1/nf")).map((t) => t.name))];
      else if (what === "tables" && arg)
        words = (await api.get<TableInfoJson[]>(`/v1/instances/${seg(arg)}/tables`)).map((t) => t.name);
      console.log(words.join("\n"));
    });
}
