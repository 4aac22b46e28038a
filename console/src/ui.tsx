// Small pieces every screen uses: loading and error states, the confirm
// dialog for destructive actions, and dates a person reads.
import { Component, useEffect, useId, useRef, useState, type ErrorInfo, type ReactNode } from 'react';
import { ApiError } from './api';

export function when(value: string | null | undefined): string {
  if (!value) return '—';
  return new Date(value).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {messageOf(error)}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Loading() {
  return (
    <p className="loading" aria-live="polite">
      Loading…
    </p>
  );
}

/** Loads `load()` on mount and whenever `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/**
 * A button that asks before it acts: a modal dialog (Escape cancels, focus
 * stays inside) names what will happen, holds any inputs the action takes
 * (`children`), and shows the action's error; its button is disabled while
 * the action runs. `onOpen` loads what the dialog shows.
 */
export function Confirm({
  label,
  title,
  body,
  confirm,
  danger = true,
  small = false,
  onOpen,
  onClose,
  onConfirm,
  children,
}: {
  label: string;
  title: string;
  body?: ReactNode;
  confirm: string;
  danger?: boolean;
  small?: boolean;
  onOpen?: () => Promise<void> | void;
  onClose?: () => void;
  onConfirm: () => Promise<void>;
  children?: ReactNode;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <button
        type="button"
        className={[danger ? 'danger' : '', small ? 'small' : ''].join(' ').trim()}
        onClick={async () => {
          setError(null);
          dialog.current?.showModal();
          try {
            await onOpen?.();
          } catch (e) {
            setError(e);
          }
        }}
      >
        {label}
      </button>
      <dialog
        ref={dialog}
        aria-labelledby={titleId}
        onClose={() => {
          setError(null);
          onClose?.();
        }}
      >
        <form
          method="dialog"
          onSubmit={async (event) => {
            event.preventDefault();
            if (busy) return;
            setBusy(true);
            setError(null);
            try {
              await onConfirm();
              dialog.current?.close();
            } catch (e) {
              setError(e);
            } finally {
              setBusy(false);
            }
          }}
        >
          <h2 id={titleId}>{title}</h2>
          {body && <div>{body}</div>}
          {children}
          <ErrorNote error={error} />
          <div className="actions">
            <button type="button" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
            <button type="submit" className={danger ? 'danger' : 'primary'} disabled={busy}>
              {confirm}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}

/** Shows what went wrong instead of a blank page, with a way back. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: unknown }> {
  override state: { error: unknown } = { error: null };

  static getDerivedStateFromError(error: unknown) {
    return { error };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo) {
    console.error(error, info.componentStack);
  }

  override render() {
    if (this.state.error) {
      return (
        <main>
          <h1>Something went wrong</h1>
          <ErrorNote error={this.state.error} />
          <p>
            <a href="#/users" onClick={() => this.setState({ error: null })}>
              Back to the users
            </a>
          </p>
        </main>
      );
    }
    return this.props.children;
  }
}
