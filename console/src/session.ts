import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { ApiFailure, get } from "./api.ts";

export interface Account {
  id: string;
  email: string | null;
  created_at?: string;
  login_methods?: string[];
}

export interface SessionState {
  /** undefined while the first check runs; null when nobody is signed in. */
  account: Account | null | undefined;
  refresh: () => Promise<void>;
  signedOut: () => void;
}

export const SessionContext = createContext<SessionState>({
  account: undefined,
  refresh: async () => {},
  signedOut: () => {},
});

export const useSession = () => useContext(SessionContext);

/**
 * Who the cookie belongs to. `GET /api/account` answers it; on a gateway without that route a
 * readable balance still proves a session (the email is then unknown).
 */
export async function loadAccount(): Promise<Account | null> {
  try {
    return await get<Account>("/api/account");
  } catch (error) {
    if (!(error instanceof ApiFailure)) throw error;
    if (error.status === 401 || error.status === 403) return null;
    if (!error.missingRoute) throw error;
  }
  try {
    await get("/api/billing/balance");
    return { id: "", email: null };
  } catch (error) {
    if (error instanceof ApiFailure && (error.status === 401 || error.status === 403)) return null;
    throw error;
  }
}
