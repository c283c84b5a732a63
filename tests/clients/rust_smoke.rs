//! Drives a live service through the two generated crates: log in, create an item, then create
//! and read back a row of each entity of the example model.
use main_api::ItemCreate;
use shop_demo::*;

fn check<T: PartialEq + std::fmt::Debug>(what: &str, made: T, read: T) {
    assert_eq!(made, read, "{} read back differs", what);
    println!("{} ok", what);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (base, email, password) = (&args[1], &args[2], &args[3]);
    let token = main_api::Client::new(base)
        .login_login_access_token(&[("username", email.as_str()), ("password", password.as_str())])?;
    let api = main_api::Client::new(base).with_token(&token.access_token);
    let item = api.items_create_item(&ItemCreate {
        title: "made by the Rust client".to_string(),
        description: Some("typed".to_string()),
    })?;
    check("item", item.clone(), api.items_read_item(&item.id)?);

    let shop = shop_demo::Client::new(base).with_token(&token.access_token);
    let customer = shop.customer_create(&CustomerCreate {
        id: None,
        first_name: "Ada".to_string(),
        email: "ada@example.com".to_string(),
        age: Some(36),
        vip: Some(true),
        tier: Some(CustomerTier::Pro),
        referred_by: None,
    })?;
    check("customer", customer.clone(), shop.customer_read(&customer.id)?);
    let supplier = shop.supplier_create(&SupplierCreate {
        id: None,
        company: Some("Acme".to_string()),
        country: Some("NL".to_string()),
    })?;
    check("supplier", supplier.clone(), shop.supplier_read(&supplier.id)?);
    let mut specs = serde_json::Map::new();
    specs.insert("watts".to_string(), serde_json::json!(40));
    let product = shop.product_create(&ProductCreate {
        id: None,
        title: "Lamp".to_string(),
        price: Some(19.5),
        tags: Some(vec![serde_json::json!("home")]),
        specs: Some(specs),
        supplier: Some(supplier.id.clone()),
    })?;
    check("product", product.clone(), shop.product_read(&product.id)?);
    let purchase = shop.purchase_create(&PurchaseCreate {
        id: None,
        placed_at: Some("2024-05-06T07:08:09Z".to_string()),
        quantity: Some(2),
        customer: Some(customer.id.clone()),
        products: Some(vec![product.id.clone()]),
    })?;
    assert_eq!(purchase.products, vec![product.id.clone()]);
    check("purchase", purchase.clone(), shop.purchase_read(&purchase.id)?);
    let review = shop.review_create(&ReviewCreate {
        id: None,
        rating: 5,
        comment_text: Some("bright".to_string()),
        product_ref: product.id.clone(),
    })?;
    check("review", review.clone(), shop.review_read(&review.id)?);
    let page = shop.customer_list(&[("tier", "pro"), ("age.gte", "30")])?;
    assert_eq!(page.count, 1);
    println!("done");
    Ok(())
}
