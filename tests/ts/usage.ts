// The calls and types the template's frontend uses (login, users, items, utils), so that a
// client generated from this service's document type-checks where the frontend's code does.
import {
  ApiError,
  type Body_login_login_access_token as AccessToken,
  type HTTPValidationError,
  type ItemCreate,
  type ItemPublic,
  ItemsService,
  type ItemsPublic,
  type ItemUpdate,
  LoginService,
  OpenAPI,
  type Token,
  type UpdatePassword,
  type UserCreate,
  type UserPublic,
  type UserRegister,
  UsersService,
  type UsersPublic,
  type UserUpdate,
  type UserUpdateMe,
  UtilsService,
} from "./client/src"

OpenAPI.BASE = "http://127.0.0.1:1430"
OpenAPI.TOKEN = async () => localStorage.getItem("access_token") || ""

export async function login(data: AccessToken): Promise<string> {
  const token: Token = await LoginService.loginAccessToken({ formData: data })
  localStorage.setItem("access_token", token.access_token)
  return token.access_token
}

export async function session(): Promise<UserPublic> {
  const me: UserPublic = await UsersService.readUserMe()
  await LoginService.testToken()
  return me
}

export async function signUp(data: UserRegister): Promise<UserPublic> {
  return UsersService.registerUser({ requestBody: data })
}

export async function admin(add: UserCreate, edit: UserUpdate): Promise<number> {
  const page: UsersPublic = await UsersService.readUsers({ skip: 0, limit: 5 })
  const user = await UsersService.createUser({ requestBody: add })
  const read: UserPublic = await UsersService.readUserById({ userId: user.id })
  await UsersService.updateUser({ userId: read.id, requestBody: edit })
  const done = await UsersService.deleteUser({ userId: user.id })
  return page.count + done.message.length
}

export async function settings(me: UserUpdateMe, password: UpdatePassword): Promise<string> {
  const updated: UserPublic = await UsersService.updateUserMe({ requestBody: me })
  await UsersService.updatePasswordMe({ requestBody: password })
  await UsersService.deleteUserMe()
  return updated.email + (updated.full_name ?? "") + String(updated.is_superuser)
}

export async function items(add: ItemCreate, edit: ItemUpdate): Promise<ItemPublic[]> {
  const page: ItemsPublic = await ItemsService.readItems({ skip: 0, limit: 10 })
  const item: ItemPublic = await ItemsService.createItem({ requestBody: add })
  await ItemsService.readItem({ id: item.id })
  await ItemsService.updateItem({ id: item.id, requestBody: edit })
  await ItemsService.deleteItem({ id: item.id })
  return page.data
}

export async function health(): Promise<boolean> {
  return UtilsService.healthCheck()
}

export function problem(err: ApiError): string {
  const body = err.body as HTTPValidationError | { detail: string }
  const detail = body.detail
  return Array.isArray(detail) ? detail.map((d) => d.msg + d.loc.join(".")).join() : detail
}

const form: AccessToken = { username: "a@example.com", password: "x", grant_type: "password" }
export const example = [form.scope, form.client_id, form.client_secret]
