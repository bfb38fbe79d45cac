import { AuthForm } from "./auth-form.tsx";

export default function SignUpPage() {
  return <AuthForm mode="signup" />;
}
