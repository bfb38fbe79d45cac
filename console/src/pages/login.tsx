import { AuthForm } from "./auth-form.tsx";

export default function LoginPage() {
  return <AuthForm mode="login" />;
}
